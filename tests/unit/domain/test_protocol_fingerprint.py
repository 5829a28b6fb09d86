"""`plan_fingerprint` (through the old `Protocol` value, `tests.reference_schedule`): what changes
the stored slots changes it, nothing else does."""

from dataclasses import replace

import pytest

from monitor.config import parse_config
from monitor.domain.protocol import DEFAULT_PROTOCOL, PanelRule, Protocol
from tests.reference_schedule import protocol_fingerprint

DEFAULT = protocol_fingerprint(DEFAULT_PROTOCOL)


def with_panel(protocol: Protocol, name: str, **changes: object) -> Protocol:
    panels = tuple(replace(p, **changes) if p.name == name else p for p in protocol.panels)
    return replace(protocol, panels=panels)


def test_it_is_a_sha256_hex_digest_and_stable():
    assert len(DEFAULT) == 64
    assert int(DEFAULT, 16) >= 0
    # The same protocol built afresh (not the cached object) gives the same value.
    again = Protocol(tuple(replace(p) for p in DEFAULT_PROTOCOL.panels))
    assert again is not DEFAULT_PROTOCOL
    assert protocol_fingerprint(again) == DEFAULT


@pytest.mark.parametrize(
    "changed",
    [
        replace(DEFAULT_PROTOCOL, monitoring_months=36),
        replace(DEFAULT_PROTOCOL, baseline_window_days=14),
        with_panel(DEFAULT_PROTOCOL, "tsh", every_months=6),
        with_panel(DEFAULT_PROTOCOL, "cbc", window_before_days=3),
        with_panel(DEFAULT_PROTOCOL, "cbc", window_after_days=10),
        with_panel(DEFAULT_PROTOCOL, "cbc", analytes=("platelets", "neutrophils")),
        with_panel(DEFAULT_PROTOCOL, "skin", baseline=False),
        replace(DEFAULT_PROTOCOL, panels=DEFAULT_PROTOCOL.panels[:-1]),
        replace(
            DEFAULT_PROTOCOL,
            panels=(*DEFAULT_PROTOCOL.panels, PanelRule("extra_tsh", 6, 7, 7, ("tsh",))),
        ),
    ],
    ids=[
        "monitoring_months",
        "baseline_window_days",
        "every_months",
        "window_before_days",
        "window_after_days",
        "analytes",
        "baseline",
        "panel removed",
        "panel added",
    ],
)
def test_everything_that_changes_the_slots_changes_it(changed):
    assert protocol_fingerprint(changed) != DEFAULT


def test_the_order_of_panels_and_analytes_does_not_change_it():
    """Order only changes how lists are shown (sorted when read), not what is stored."""
    reordered = replace(DEFAULT_PROTOCOL, panels=tuple(reversed(DEFAULT_PROTOCOL.panels)))
    cbc = DEFAULT_PROTOCOL.panel("cbc")
    analytes_reordered = with_panel(DEFAULT_PROTOCOL, "cbc", analytes=tuple(reversed(cbc.analytes)))

    assert protocol_fingerprint(reordered) == DEFAULT
    assert protocol_fingerprint(analytes_reordered) == DEFAULT


def test_settings_outside_the_protocol_do_not_change_it():
    config = parse_config(
        {
            "clinic": {"name": "Another clinic", "phone": "0100 111 2222"},
            "reminders": {"days_before_due": 3, "overdue_days": [2, 14]},
            "rules": {"platelets": {"urgent_below": 50}},
        }
    )
    assert config.catalogue.fingerprint("alemtuzumab") == DEFAULT


def test_the_config_default_protocol_is_the_built_in_one_and_one_changed_key_tells():
    assert parse_config({}).catalogue.fingerprint("alemtuzumab") == DEFAULT
    changed = parse_config({"protocol": {"panels": {"tsh": {"every_months": 6}}}})
    assert changed.catalogue.fingerprint("alemtuzumab") != DEFAULT
