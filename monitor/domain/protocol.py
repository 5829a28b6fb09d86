"""Alemtuzumab's protocol as the old `[protocol]` table gives it (SPEC §3, §8): its defaults
fill `config.ProtocolConfig`, whose values layer onto the shipped `alemtuzumab.toml`; schedules
are computed from the built plans (`domain.catalogue`), not from this."""

from __future__ import annotations

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


DEFAULT_PANELS = (
    PanelRule("cbc", 1, 7, 7, ("platelets", "neutrophils", "hemoglobin")),
    PanelRule("creatinine", 1, 7, 7, ("creatinine",)),
    PanelRule("urinalysis", 1, 7, 7, ("urine_rbc", "urine_protein")),
    PanelRule("tsh", 3, 14, 14, ("tsh",)),
    PanelRule("lft", 1, 7, 7, ("alt", "bilirubin")),
    PanelRule("skin", 12, 30, 30, ("skin_exam",)),
)

DEFAULT_PROTOCOL = Protocol(panels=DEFAULT_PANELS)
