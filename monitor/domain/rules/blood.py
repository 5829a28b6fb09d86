"""Blood count rules: platelets, neutrophils, haemoglobin (SPEC §4; clinical.md §3a, §3b).

Lymphocytes (and the total white count) are never flagged by default: lymphocyte depletion is
how alemtuzumab works, so a low count is expected and alarms on it would drown the real ones.
A lymphocyte cut-off fires only where a clinic or a protocol sets one (`LymphocyteSettings`),
as the dimethyl fumarate, cladribine and fingolimod labels ask (docs/protocols.md).
"""

from __future__ import annotations

from dataclasses import replace

from .context import Context, at_least, below, fmt
from .model import Finding, Severity, asking_repeat
from .settings import LymphocyteSettings, NeutrophilSettings, PlateletSettings

COUNT_UNIT = "x10^9/L"  # platelets and neutrophils, as the messages write it


def platelet_findings(ctx: Context) -> list[Finding]:
    """Low count and a steep fall, both annotated (and mostly capped) in a post-infusion dip."""
    value = ctx.value
    if value is None:
        return []
    found = [f for f in (_platelets_low(ctx, value), _platelets_fall(ctx, value)) if f]
    course = ctx.dip_course()
    if course is None:
        return found
    return [_in_dip(f, value, course, ctx) for f in found]


def _platelets_low(ctx: Context, value: float) -> Finding | None:
    """< 50 emergency, < 100 urgent, < 150 (or the lab's lower limit) review. Below the urgent
    cut-off it asks for a repeat count (also when the dip caps its severity: the capped message
    itself asks to confirm with a repeat)."""
    s = ctx.settings.platelets
    finding = _below_tiers(ctx, value, s, "platelets.low", "Platelets")
    if finding is not None and below(value, s.urgent_below):
        return asking_repeat(finding, s.repeat_within_days)
    return finding


def _below_tiers(
    ctx: Context, value: float, s: PlateletSettings | NeutrophilSettings, rule: str, label: str
) -> Finding | None:
    """The most severe of three low cut-offs the value is below (the lab's lower limit, when
    sent, replaces the review cut-off); both counts are in x10^9/L."""
    review_below = ctx.subject.ref_low if ctx.subject.ref_low is not None else s.review_below
    tiers = (
        (s.emergency_below, Severity.EMERGENCY),
        (s.urgent_below, Severity.URGENT),
        (review_below, Severity.REVIEW),
    )
    for cut, severity in tiers:
        if below(value, cut):
            message = f"{label} {fmt(value)} {COUNT_UNIT}, below {fmt(cut)} ({severity})."
            return Finding(ctx.subject.key, rule, severity, message)
    return None


def _platelets_fall(ctx: Context, value: float) -> Finding | None:
    """A fall of `fall_fraction` or more from the previous count: review (rule out clumping)."""
    previous = ctx.previous()
    fraction = ctx.settings.platelets.fall_fraction
    if previous is None or previous.canonical_value is None or previous.canonical_value <= 0:
        return None
    before = previous.canonical_value
    if not at_least(before - value, before * fraction):
        return None
    finding = Finding(
        ctx.subject.key,
        "platelets.fall",
        Severity.REVIEW,
        f"Platelets fell from {fmt(before)} on {previous.collected_on} to {fmt(value)} "
        f"{COUNT_UNIT} ({fmt(100 * fraction)}% or more); repeat to rule out clumping.",
    )
    return asking_repeat(finding, ctx.settings.platelets.repeat_within_days)


def _in_dip(finding: Finding, value: float, course: int, ctx: Context) -> Finding:
    """Annotate a flag in the post-infusion dip window; cap it at review unless < emergency cut."""
    s = ctx.settings.platelets
    note = (
        f" Expected post-infusion dip: collected during or within {s.dip_days_after_course} "
        f"days after course {course}."
    )
    if below(value, s.emergency_below):
        return replace(finding, message=finding.message + note)
    note += " Severity capped at review; confirm with a repeat count."
    return replace(finding, severity=Severity.REVIEW, message=finding.message + note)


def neutrophil_findings(ctx: Context) -> list[Finding]:
    """< 0.5 emergency, < 1.0 urgent, < 1.5 (or the lab's lower limit) review."""
    value = ctx.value
    if value is None:
        return []
    finding = _below_tiers(ctx, value, ctx.settings.neutrophils, "neutrophils.low", "Neutrophils")
    return [finding] if finding is not None else []


def hemoglobin_findings(ctx: Context) -> list[Finding]:
    """Below range: review. A drop of 20 g/L or more from the pre-treatment baseline: urgent."""
    value = ctx.value
    if value is None:
        return []
    found = [_hemoglobin_low(ctx, value), _hemoglobin_drop(ctx, value)]
    return [f for f in found if f]


def _hemoglobin_low(ctx: Context, value: float) -> Finding | None:
    s = ctx.settings.hemoglobin
    default = {"F": s.low_f, "M": s.low_m, "X": s.low_x}[ctx.sex()]
    low = ctx.subject.ref_low if ctx.subject.ref_low is not None else default
    if not below(value, low):
        return None
    return Finding(
        ctx.subject.key,
        "hemoglobin.below_range",
        Severity.REVIEW,
        f"Haemoglobin {fmt(value)} g/L, below the range's lower limit {fmt(low)}.",
    )


def _hemoglobin_drop(ctx: Context, value: float) -> Finding | None:
    baseline = ctx.baseline()
    drop = ctx.settings.hemoglobin.baseline_drop_urgent
    if baseline is None or baseline.canonical_value is None:
        return None
    if not at_least(baseline.canonical_value - value, drop):
        return None
    return Finding(
        ctx.subject.key,
        "hemoglobin.baseline_drop",
        Severity.URGENT,
        f"Haemoglobin {fmt(value)} g/L is {fmt(drop)} g/L or more below the pre-treatment "
        f"baseline {fmt(baseline.canonical_value)} ({baseline.collected_on}).",
    )


def lymphocyte_findings(ctx: Context) -> list[Finding]:
    """The most severe set cut-off the count is below; a cut-off of 0 is not set. The lab's
    lower limit never replaces one: a count below the lab's range is the drugs' expected
    effect, and only the thresholds a protocol gives are findings."""
    value = ctx.value
    if value is None:
        return []
    s: LymphocyteSettings = ctx.settings.lymphocytes
    tiers = (
        (s.emergency_below, Severity.EMERGENCY),
        (s.urgent_below, Severity.URGENT),
        (s.review_below, Severity.REVIEW),
    )
    for cut, severity in tiers:
        if cut > 0 and below(value, cut):
            message = f"Lymphocytes {fmt(value)} {COUNT_UNIT}, below {fmt(cut)} ({severity})."
            return [Finding(ctx.subject.key, "lymphocytes.low", severity, message)]
    return []
