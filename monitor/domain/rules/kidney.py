"""Kidney rules: creatinine and urinalysis (SPEC §4; clinical.md §3c, edge case 14).

Anti-GBM nephropathy shows as rising creatinine with blood in the urine, so the two combine into
an emergency. Haematuria in a sample marked as collected during menstruation is not counted
anywhere: not as a flag of its own, not as the previous finding, not as a creatinine partner.
"""

from __future__ import annotations

from collections.abc import Sequence

from .context import Context, above, at_least, fmt, ordinal_rank
from .model import Finding, ResultFact, Severity, asking_repeat

URINE_ANALYTES = ("urine_rbc", "urine_blood")
_ONE_PLUS = 2  # rank of "1+" on the dipstick scale (negative, trace, 1+, ...)


def is_haematuria(fact: ResultFact, rbc_high: float) -> bool:
    """urine_blood 1+ or more, or urine_rbc above range (lab's upper limit, else `rbc_high`).

    A menstruating sample is never haematuria for the rules.
    """
    if fact.is_menstruating:
        return False
    if fact.analyte == "urine_blood":
        return ordinal_rank(fact) >= _ONE_PLUS
    if fact.analyte == "urine_rbc" and fact.canonical_value is not None:
        high = fact.ref_high if fact.ref_high is not None else rbc_high
        return above(fact.canonical_value, high)
    return False


def creatinine_findings(ctx: Context) -> list[Finding]:
    """Above range review; a rise urgent; a rise with same-day haematuria emergency."""
    value = ctx.value
    if value is None:
        return []
    found = [_creatinine_high(ctx, value)]
    rise = _creatinine_rise(ctx, value)
    if rise is not None:
        found += [rise, creatinine_combined(ctx)]
    return [f for f in found if f]


def _creatinine_high(ctx: Context, value: float) -> Finding | None:
    s = ctx.settings.creatinine
    default = {"F": s.high_f, "M": s.high_m, "X": s.high_x}[ctx.sex()]
    high = ctx.subject.ref_high if ctx.subject.ref_high is not None else default
    if not above(value, high):
        return None
    message = f"Creatinine {fmt(value)} umol/L, above the range's upper limit {fmt(high)}."
    return Finding(ctx.subject.key, "creatinine.above_range", Severity.REVIEW, message)


def _rise_reasons(ctx: Context, value: float) -> list[str]:
    """Why creatinine counts as risen: vs pre-treatment baseline and/or vs previous result."""
    s = ctx.settings.creatinine
    reasons = []
    baseline = ctx.baseline()
    if baseline and baseline.canonical_value and baseline.canonical_value > 0:
        if at_least(value, s.baseline_ratio_urgent * baseline.canonical_value):
            reasons.append(
                f"{fmt(s.baseline_ratio_urgent)} x or more the pre-treatment baseline "
                f"{fmt(baseline.canonical_value)} ({baseline.collected_on})"
            )
    previous = ctx.previous()
    if previous and previous.canonical_value is not None:
        if at_least(value - previous.canonical_value, s.rise_urgent):
            reasons.append(
                f"{fmt(s.rise_urgent)} umol/L or more above the previous "
                f"{fmt(previous.canonical_value)} ({previous.collected_on})"
            )
    return reasons


def _creatinine_rise(ctx: Context, value: float) -> Finding | None:
    reasons = _rise_reasons(ctx, value)
    if not reasons:
        return None
    message = f"Creatinine {fmt(value)} umol/L is " + " and ".join(reasons) + "."
    finding = Finding(ctx.subject.key, "creatinine.rise", Severity.URGENT, message)
    return asking_repeat(finding, ctx.settings.creatinine.repeat_within_days)


def creatinine_combined(ctx: Context) -> Finding | None:
    """Emergency: creatinine has risen and a same-day urine sample shows haematuria.

    Also called for a creatinine already stored when its same-day urine arrives later (SPEC §9).
    """
    value = ctx.value
    if value is None or not _rise_reasons(ctx, value):
        return None
    rbc_high = ctx.settings.urine_rbc.high
    partners = [u for u in ctx.same_day(*URINE_ANALYTES) if is_haematuria(u, rbc_high)]
    if not partners:
        return None
    names = ", ".join(sorted({_urine_words(u) for u in partners}))
    finding = Finding(
        ctx.subject.key,
        "creatinine.rise_with_haematuria",
        Severity.EMERGENCY,
        f"Creatinine {fmt(value)} umol/L has risen and urine collected the same day shows "
        f"blood ({names}): possible anti-GBM disease.",
    )
    return asking_repeat(finding, ctx.settings.creatinine.repeat_within_days)


def _urine_words(fact: ResultFact) -> str:
    if fact.analyte == "urine_blood":
        return f"dipstick blood {fact.ordinal}"
    return f"urine red cells {fmt(fact.canonical_value or 0.0)} /HPF"


def urine_findings(ctx: Context) -> list[Finding]:
    """Haematuria review; haematuria at two consecutive urinalyses urgent.

    "Two consecutive urinalysis slots" is read as: this sample and the previous urinalysis,
    i.e. the latest earlier collection date with a non-menstruating urine_rbc or urine_blood
    result. Either measure counts on either date (red cells now, dipstick blood last time is the
    same finding: blood in the urine). Menstruating samples are skipped, not counted as clear.
    """
    rbc_high = ctx.settings.urine_rbc.high
    if not is_haematuria(ctx.subject, rbc_high):
        return []
    words = _urine_words(ctx.subject)
    found = [
        Finding(
            ctx.subject.key,
            "urine.haematuria",
            Severity.REVIEW,
            f"Blood in the urine ({words}), sample not marked as during menstruation; repeat.",
        )
    ]
    last = _previous_urinalysis(ctx)
    if last and any(is_haematuria(u, rbc_high) for u in last):
        found.append(
            Finding(
                ctx.subject.key,
                "urine.haematuria_repeated",
                Severity.URGENT,
                f"Blood in the urine ({words}) again: the previous urinalysis "
                f"({last[0].collected_on}) showed it too.",
            )
        )
    return found


def _previous_urinalysis(ctx: Context) -> Sequence[ResultFact]:
    """The non-menstruating urine_rbc/urine_blood results of the latest earlier date."""
    day = ctx.subject.collected_on
    earlier = [
        r
        for r in ctx.others
        if r.analyte in URINE_ANALYTES and r.collected_on < day and not r.is_menstruating
    ]
    if not earlier:
        return []
    latest = max(r.collected_on for r in earlier)
    return [r for r in earlier if r.collected_on == latest]


def urine_protein_findings(ctx: Context) -> list[Finding]:
    """Dipstick protein 1+ or more: review (menstruation does not explain protein)."""
    if ordinal_rank(ctx.subject) < _ONE_PLUS:
        return []
    message = f"Protein in the urine (dipstick {ctx.subject.ordinal}); check UPCR and repeat."
    return [Finding(ctx.subject.key, "urine_protein.positive", Severity.REVIEW, message)]
