"""Liver rules: ALT, AST, bilirubin (SPEC §4; clinical.md §3e).

The multiples apply to the ULN of the result itself: the lab's upper limit when sent, else the
configured default. The combined (Hy's-law-like) rule uses each result's own ULN.
"""

from __future__ import annotations

from .context import Context, above, fmt
from .model import Finding, ResultFact, Severity
from .settings import LiverEnzymeSettings

LIVER_ENZYMES = ("alt", "ast")


def _enzyme_settings(ctx: Context) -> LiverEnzymeSettings:
    return ctx.settings.ast if ctx.subject.analyte == "ast" else ctx.settings.alt


def _uln(fact: ResultFact, default: float) -> float:
    return fact.ref_high if fact.ref_high is not None else default


def enzyme_findings(ctx: Context) -> list[Finding]:
    """Above ULN review; > 3x urgent; > 5x emergency; > 3x with bilirubin > 2x ULN emergency."""
    value = ctx.value
    if value is None:
        return []
    found = [_enzyme_above(ctx, value), enzyme_combined(ctx)]
    return [f for f in found if f]


def _enzyme_above(ctx: Context, value: float) -> Finding | None:
    """The highest tier of `<analyte>.above_range` that the value passes (strictly above)."""
    s = _enzyme_settings(ctx)
    uln = _uln(ctx.subject, s.uln)
    tiers = (
        (s.emergency_multiple, Severity.EMERGENCY),
        (s.urgent_multiple, Severity.URGENT),
        (1.0, Severity.REVIEW),
    )
    for multiple, severity in tiers:
        if above(value, multiple * uln):
            limit = f"ULN {fmt(uln)}" if multiple == 1.0 else f"{fmt(multiple)} x ULN {fmt(uln)}"
            name = ctx.subject.analyte
            message = f"{name.upper()} {fmt(value)} U/L, above {limit} ({severity})."
            return Finding(ctx.subject.key, f"{name}.above_range", severity, message)
    return None


def enzyme_combined(ctx: Context) -> Finding | None:
    """Emergency: ALT/AST > 3x ULN with a same-day bilirubin > 2x its ULN.

    Also called for an ALT/AST already stored when its same-day bilirubin arrives (SPEC §9).
    """
    value = ctx.value
    s = _enzyme_settings(ctx)
    if value is None or not above(value, s.urgent_multiple * _uln(ctx.subject, s.uln)):
        return None
    b = ctx.settings.bilirubin
    partners = [
        r.canonical_value
        for r in ctx.same_day("bilirubin")
        if r.canonical_value is not None
        and above(r.canonical_value, b.combined_multiple * _uln(r, b.uln))
    ]
    if not partners:
        return None
    name = ctx.subject.analyte
    return Finding(
        ctx.subject.key,
        f"{name}.with_bilirubin",
        Severity.EMERGENCY,
        f"{name.upper()} {fmt(value)} U/L is above {fmt(s.urgent_multiple)} x ULN and bilirubin "
        f"collected the same day is {fmt(max(partners))} umol/L, above "
        f"{fmt(b.combined_multiple)} x its ULN: risk of severe liver injury.",
    )


def bilirubin_findings(ctx: Context) -> list[Finding]:
    """Above range (default ULN 21 umol/L): review."""
    value = ctx.value
    if value is None:
        return []
    uln = _uln(ctx.subject, ctx.settings.bilirubin.uln)
    if not above(value, uln):
        return []
    message = f"Bilirubin {fmt(value)} umol/L, above the range's upper limit {fmt(uln)}."
    return [Finding(ctx.subject.key, "bilirubin.above_range", Severity.REVIEW, message)]
