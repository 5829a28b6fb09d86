"""Thyroid rule: TSH (SPEC §4; clinical.md §3d, edge case 6).

Pregnancy is a separate rule, `tsh.pregnancy`, rather than a raised `tsh.out_of_range`: the flag
list then says *why* a mildly abnormal TSH is urgent (neonatal Graves' risk), and the range flag
keeps meaning the same thing for every patient.
"""

from __future__ import annotations

from .context import Context, above, below, fmt
from .model import Finding, Severity


def tsh_findings(ctx: Context) -> list[Finding]:
    """Outside range review; < 0.1 or > 10 urgent; abnormal during pregnancy: urgent.

    The urgent cut-offs stay whatever range the lab sends (SPEC §9), so a TSH of 11 inside a
    lab range of 0.05-12 is still urgent.
    """
    value = ctx.value
    if value is None:
        return []
    s = ctx.settings.tsh
    low = ctx.subject.ref_low if ctx.subject.ref_low is not None else s.low
    high = ctx.subject.ref_high if ctx.subject.ref_high is not None else s.high
    severe = below(value, s.urgent_below) or above(value, s.urgent_above)
    if not (severe or below(value, low) or above(value, high)):
        return []
    if severe:
        reason = f"beyond the urgent cut-offs {fmt(s.urgent_below)} and {fmt(s.urgent_above)}"
    else:
        reason = f"outside the range {fmt(low)}-{fmt(high)}"
    message = f"TSH {fmt(value)} mIU/L, {reason}; check free T4."
    severity = Severity.URGENT if severe else Severity.REVIEW
    found = [Finding(ctx.subject.key, "tsh.out_of_range", severity, message)]
    if ctx.pregnant():
        message = (
            f"TSH {fmt(value)} mIU/L is abnormal and the patient was pregnant when it was "
            "collected; refer to endocrinology."
        )
        found.append(Finding(ctx.subject.key, "tsh.pregnancy", Severity.URGENT, message))
    return found
