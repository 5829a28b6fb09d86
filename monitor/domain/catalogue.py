"""Every configured protocol, as one value the schedule is computed from (SPEC §10).

The unit of work carries a `Catalogue`; slots are rebuilt from it, and each treatment's stored
slots carry the fingerprint of their protocol's plan (`fingerprint`), so a change to one protocol
makes only the patients on it stale (SPEC §10.3). The fingerprint covers exactly what changes the
stored slots: the kind, the durations and each panel's analytes, windows, baseline, schedule,
`sex` and `indefinite`; not the display name, `patient_words` or the rule overrides (those change
words and flags, which are computed when shown or when a result arrives).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.domain.phases import PanelPlan, Phase, ProtocolPlan
from monitor.errors import InvalidInput

DEFAULT_PROTOCOL_ID = "alemtuzumab"

# Raised when the code that turns a protocol into stored slots (`domain.treatments`,
# `domain.status`, `services.schedule.slots.slot_rows`) changes what it stores: every stored
# schedule then needs a rebuild. 2: slots per series (protocol, treatment), issue 13.
SLOT_ALGORITHM_VERSION = 2


class UnknownProtocol(InvalidInput):
    """A protocol id the configuration does not define (exit 2)."""

    def __init__(self, protocol_id: str, known: Iterable[str]) -> None:
        shown = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown protocol {protocol_id[:64]!r} (configured: {shown})")
        self.protocol_id = protocol_id


@dataclass(frozen=True)
class Catalogue:
    """The configured protocols, sorted by id (hashable, so derived values can be cached)."""

    plans: tuple[ProtocolPlan, ...]

    @classmethod
    def of(cls, plans: Mapping[str, ProtocolPlan] | Iterable[ProtocolPlan]) -> Catalogue:
        values = plans.values() if isinstance(plans, Mapping) else plans
        return cls(tuple(sorted(values, key=lambda plan: plan.id)))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(plan.id for plan in self.plans)

    def plan(self, protocol_id: str) -> ProtocolPlan:
        """The protocol with this id, or UnknownProtocol naming the configured ones."""
        found = _by_id(self).get(protocol_id)
        if found is None:
            raise UnknownProtocol(protocol_id, self.ids)
        return found

    def panel(self, protocol_id: str, panel: str) -> PanelPlan:
        """One panel of one protocol (KeyError if the protocol has no such panel)."""
        for found in self.plan(protocol_id).panels:
            if found.name == panel:
                return found
        raise KeyError(f"{protocol_id}.{panel}")

    def fingerprint(self, protocol_id: str) -> str:
        return plan_fingerprint(self.plan(protocol_id))

    def fingerprints(self) -> dict[str, str]:
        """protocol id -> its plan's fingerprint, for every protocol."""
        return {plan.id: plan_fingerprint(plan) for plan in self.plans}

    def panel_ranks(self) -> dict[tuple[str, str], int]:
        """(protocol, panel) -> its place in the listing order: protocol id, then the
        protocol's panel order (SPEC §10.4's tie order for the overdue list)."""
        return _panel_ranks(self)

    @property
    def panel_names(self) -> tuple[str, ...]:
        """Every panel name once, in listing order (a column per panel in a grid)."""
        names: dict[str, None] = {}
        for plan in self.plans:
            names.update(dict.fromkeys(panel.name for panel in plan.panels))
        return tuple(names)

    @property
    def longest_window_after(self) -> int:
        return max(panel.window_after_days for plan in self.plans for panel in plan.panels)


@functools.cache
def _by_id(catalogue: Catalogue) -> dict[str, ProtocolPlan]:
    return {plan.id: plan for plan in catalogue.plans}


@functools.cache
def _panel_ranks(catalogue: Catalogue) -> dict[tuple[str, str], int]:
    pairs = [(plan.id, panel.name) for plan in catalogue.plans for panel in plan.panels]
    return {pair: rank for rank, pair in enumerate(pairs)}


@functools.cache
def plan_fingerprint(plan: ProtocolPlan) -> str:
    """A stable hash of everything in `plan` that changes the stored slots (module doc):
    canonical JSON, panels sorted by name and analytes sorted (their order only changes how
    lists are shown), with the slot algorithm's version."""
    canonical = {
        "slot_algorithm": SLOT_ALGORITHM_VERSION,
        "id": plan.id,
        "kind": plan.kind.value,
        "monitoring_months": plan.monitoring_months,
        "after_stop_months": plan.after_stop_months,
        "baseline_window_days": plan.baseline_window_days,
        "panels": [_panel(panel) for panel in sorted(plan.panels, key=lambda p: p.name)],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _panel(panel: PanelPlan) -> dict[str, Any]:
    return {
        "name": panel.name,
        "analytes": sorted(panel.analytes),
        "baseline": panel.baseline,
        "window_before_days": panel.window_before_days,
        "window_after_days": panel.window_after_days,
        "sex": panel.sex,
        "indefinite": panel.indefinite,
        "phases": [_phase(phase) for phase in panel.phases],
    }


def _phase(phase: Phase) -> dict[str, Any]:
    def shown(length: object) -> str | None:
        return None if length is None else str(length)

    return {
        "every": shown(phase.every),
        "from": shown(phase.from_),
        "until": shown(phase.until),
        "at": [str(offset) for offset in phase.at],
    }
