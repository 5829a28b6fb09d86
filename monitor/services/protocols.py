"""The configured protocols as plain data, for `monitor protocols` (SPEC §10.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.domain.phases import PanelPlan, Phase, ProtocolPlan


def protocol_listing(plans: Mapping[str, ProtocolPlan]) -> list[dict[str, Any]]:
    """Every protocol in id order, with its panels (in the protocol's order) and their phases
    (`every_months` shows as one `every` phase from `0m`; an `until` left out is null)."""
    return [_protocol(plans[protocol_id]) for protocol_id in sorted(plans)]


def _protocol(plan: ProtocolPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "kind": plan.kind.value,
        "monitoring_months": plan.monitoring_months,
        "after_stop_months": plan.after_stop_months,
        "panels": [_panel(panel) for panel in plan.panels],
    }


def _panel(panel: PanelPlan) -> dict[str, Any]:
    return {
        "panel": panel.name,
        "analytes": list(panel.analytes),
        "baseline": panel.baseline,
        "window_before_days": panel.window_before_days,
        "window_after_days": panel.window_after_days,
        "sex": panel.sex,
        "indefinite": panel.indefinite,
        "patient_words": panel.patient_words,
        "phases": [_phase(phase) for phase in panel.phases],
    }


def _phase(phase: Phase) -> dict[str, Any]:
    if phase.every is None:
        return {"at": [str(offset) for offset in phase.at]}
    return {
        "every": str(phase.every),
        "from": str(phase.from_) if phase.from_ is not None else "0" + phase.every.unit.value,
        "until": str(phase.until) if phase.until is not None else None,
    }


def describe_phases(phases: list[dict[str, Any]]) -> str:
    """The phases of one listed panel in words: `every 1m`, `every 2w from 0w until 6m; at 9m`."""
    words = []
    for phase in phases:
        if "at" in phase:
            words.append("at " + ", ".join(phase["at"]))
            continue
        text = f"every {phase['every']}"
        if phase["from"][:-1] != "0":
            text += f" from {phase['from']}"
        if phase["until"] is not None:
            text += f" until {phase['until']}"
        words.append(text)
    return "; ".join(words)
