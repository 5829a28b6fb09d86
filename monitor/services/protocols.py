"""The configured protocols as plain data, for `monitor protocols` (SPEC §10.3), and in words
for a clinician to check (`protocol_sheets`: the CLI table and the worklist's Protocols page)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.domain.plan_words import monitoring_words, schedule_words, sex_words, window_words

if TYPE_CHECKING:
    from monitor.domain.phases import PanelPlan, Phase, ProtocolPlan


@dataclass(frozen=True)
class PanelSheet:
    """One panel as the staff read it: its schedule and window in words."""

    panel: str
    analytes: tuple[str, ...]
    schedule: str
    window: str
    baseline: bool
    sex: str
    indefinite: bool
    patient_words: str


@dataclass(frozen=True)
class ProtocolSheet:
    id: str
    name: str
    kind: str
    monitoring: str
    panels: tuple[PanelSheet, ...]


def protocol_sheets(plans: Mapping[str, ProtocolPlan]) -> list[ProtocolSheet]:
    """Every protocol in id order (as `protocol_listing`), its end and panels in plain words."""
    return [_sheet(plans[protocol_id]) for protocol_id in sorted(plans)]


def _sheet(plan: ProtocolPlan) -> ProtocolSheet:
    panels = tuple(
        PanelSheet(
            panel=panel.name,
            analytes=panel.analytes,
            schedule=schedule_words(panel, plan.kind),
            window=window_words(panel),
            baseline=panel.baseline,
            sex=sex_words(panel.sex),
            indefinite=panel.indefinite,
            patient_words=panel.patient_words,
        )
        for panel in plan.panels
    )
    return ProtocolSheet(plan.id, plan.name, plan.kind.value, monitoring_words(plan), panels)


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
