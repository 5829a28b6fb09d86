"""The flag rules for a patient on several protocols at once (SPEC §10.1 `rules`).

A protocol may set its own thresholds (`[protocols.<id>.rules.<analyte>]`), each key falling
back to the clinic's `[rules.<analyte>]`. A result collected while several treatments are
active is judged under each of their protocols; per rule the most severe finding is kept, so
a patient on two drugs is never judged more leniently than either drug's label asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .engine import evaluate
from .model import Finding, PatientContext, ResultFact
from .settings import RuleSettings, protocol_rule_settings

if TYPE_CHECKING:
    from monitor.domain.phases import ProtocolPlan


def evaluate_for_protocols(
    new: ResultFact,
    history: Sequence[ResultFact],
    patient: PatientContext,
    base: RuleSettings,
    protocols: Sequence[ProtocolPlan],
) -> list[Finding]:
    """`evaluate` under each protocol's overrides of `base`; one finding per (result, rule), the
    most severe (the first protocol's on a tie, in the order given), asking for the soonest
    repeat any protocol asks for. `protocols` are those whose treatment is active on the
    result's collection date; with none, `base` alone judges it."""
    if not protocols:
        return evaluate(new, history, patient, base)
    kept: dict[tuple[int | str, str], Finding] = {}
    for plan in protocols:
        settings = protocol_rule_settings(base, plan.rules)
        for finding in evaluate(new, history, patient, settings):
            key = (finding.result_key, finding.rule)
            held = kept.get(key)
            if held is None or finding.severity.rank > held.severity.rank:
                kept[key] = _sooner_repeat(finding, held)
            else:
                kept[key] = _sooner_repeat(held, finding)
    return list(kept.values())


def _sooner_repeat(kept: Finding, other: Finding | None) -> Finding:
    """`kept`, asking for the sooner of the two repeats (either protocol's)."""
    asked = [f.repeat_within_days for f in (kept, other) if f and f.repeat_within_days]
    return replace(kept, repeat_within_days=min(asked, default=None))
