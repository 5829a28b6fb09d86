"""The monitoring protocol as plain values (SPEC §3); config.toml fills it in."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class PanelRule:
    """One panel: how often it repeats, its window, what it asks for, and if it has a baseline."""

    name: str
    every_months: int
    window_before_days: int
    window_after_days: int
    analytes: tuple[str, ...]
    baseline: bool = True


@dataclass(frozen=True)
class Protocol:
    """Panels in display order (SPEC §3's table order is the default) and the two durations."""

    panels: tuple[PanelRule, ...]
    monitoring_months: int = 48
    baseline_window_days: int = 30

    def panel(self, name: str) -> PanelRule:
        for rule in self.panels:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def panel_names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.panels)


# Raised when the code that turns a protocol into stored slots (`domain.schedule`,
# `domain.status`, `services.schedule.slots.slot_rows`) changes what it stores: every stored
# schedule then needs a rebuild.
SLOT_ALGORITHM_VERSION = 1


@functools.cache
def protocol_fingerprint(protocol: Protocol) -> str:
    """A stable hash of everything in the protocol that changes the stored slots.

    Canonical JSON of the durations and each panel's interval, window, analytes and baseline,
    with panels sorted by name and analytes sorted (their order only changes how lists are
    shown, not what is stored); the slot algorithm's version is part of it too.
    """
    canonical = {
        "slot_algorithm": SLOT_ALGORITHM_VERSION,
        "monitoring_months": protocol.monitoring_months,
        "baseline_window_days": protocol.baseline_window_days,
        "panels": [
            {
                "name": rule.name,
                "every_months": rule.every_months,
                "window_before_days": rule.window_before_days,
                "window_after_days": rule.window_after_days,
                "analytes": sorted(rule.analytes),
                "baseline": rule.baseline,
            }
            for rule in sorted(protocol.panels, key=lambda rule: rule.name)
        ],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


DEFAULT_PANELS = (
    PanelRule("cbc", 1, 7, 7, ("platelets", "neutrophils", "hemoglobin")),
    PanelRule("creatinine", 1, 7, 7, ("creatinine",)),
    PanelRule("urinalysis", 1, 7, 7, ("urine_rbc", "urine_protein")),
    PanelRule("tsh", 3, 14, 14, ("tsh",)),
    PanelRule("lft", 1, 7, 7, ("alt", "bilirubin")),
    PanelRule("skin", 12, 30, 30, ("skin_exam",)),
)

DEFAULT_PROTOCOL = Protocol(panels=DEFAULT_PANELS)
