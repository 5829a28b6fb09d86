"""The rules engine entry point: which rules judge which analyte, and partner re-checks.

`evaluate` is pure: it reads only its arguments. It never raises on a well-formed fact; a fact it
cannot judge (unknown analyte, missing value, word outside the scale) simply yields no finding,
because refusing bad input is the job of units.measure before a result is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .blood import (
    hemoglobin_findings,
    lymphocyte_findings,
    neutrophil_findings,
    platelet_findings,
)
from .context import Context, ordinal_rank
from .kidney import (
    URINE_ANALYTES,
    creatinine_combined,
    creatinine_findings,
    is_haematuria,
    urine_findings,
    urine_protein_findings,
)
from .liver import LIVER_ENZYMES, bilirubin_findings, enzyme_combined, enzyme_findings
from .model import Finding, PatientContext, ResultFact, Severity
from .settings import DEFAULT_SETTINGS, RuleSettings
from .thyroid import tsh_findings

Rule = Callable[[Context], list[Finding]]


def _skin_findings(ctx: Context) -> list[Finding]:
    """An abnormal skin exam (possible melanoma or other skin change): review."""
    if ordinal_rank(ctx.subject) < 1:
        return []
    message = "Skin examination recorded as abnormal; review."
    return [Finding(ctx.subject.key, "skin_exam.abnormal", Severity.REVIEW, message)]


# wbc, upcr and free_t4 are absent on purpose: never flagged (SPEC §4). Lymphocytes are
# flagged only below cut-offs a clinic or a protocol sets (all 0, "never", by default).
RULES: dict[str, Rule] = {
    "platelets": platelet_findings,
    "neutrophils": neutrophil_findings,
    "lymphocytes": lymphocyte_findings,
    "hemoglobin": hemoglobin_findings,
    "creatinine": creatinine_findings,
    "urine_rbc": urine_findings,
    "urine_blood": urine_findings,
    "urine_protein": urine_protein_findings,
    "tsh": tsh_findings,
    "alt": enzyme_findings,
    "ast": enzyme_findings,
    "bilirubin": bilirubin_findings,
    "skin_exam": _skin_findings,
}


def analytes_read(analytes: Iterable[str]) -> frozenset[str]:
    """The analytes whose results on any date `evaluate` may read when judging new results of
    `analytes`; beside them it reads only results collected on a new result's own date (the
    same-draw partners of the combined rules). A rule compares a result with earlier ones of its
    own analyte (previous, baseline); a urinalysis also with the previous urinalysis, either
    measure, and with a same-day creatinine's own history (the rise that makes haematuria an
    emergency). So a caller may read only these from a history of hundreds (issue 15); a
    property test holds this to the whole-history answer."""
    read: set[str] = set()
    for analyte in analytes:
        read.add(analyte)
        if analyte in URINE_ANALYTES:
            read.update((*URINE_ANALYTES, "creatinine"))
    return frozenset(read)


def evaluate(
    new: ResultFact,
    history: Sequence[ResultFact],
    patient: PatientContext,
    settings: RuleSettings = DEFAULT_SETTINGS,
) -> list[Finding]:
    """Findings for a newly stored result, one per rule that fires at its highest tier.

    `history` is every other stored result of the patient (any analyte, any date; or only those
    of `analytes_read` and of the new result's date, which give the same findings). Besides the
    new result's own findings, combined rules of same-day partners are checked again when the new
    result completes them (SPEC §9): haematuria arriving after a risen creatinine, bilirubin after
    a high ALT/AST. Those findings carry the partner's key; the caller drops any already stored.
    """
    rule = RULES.get(new.analyte)
    own = rule(Context(new, history, patient, settings)) if rule else []
    return own + _recheck_partners(new, history, patient, settings)


def _recheck_partners(
    new: ResultFact,
    history: Sequence[ResultFact],
    patient: PatientContext,
    settings: RuleSettings,
) -> list[Finding]:
    """Combined findings for same-day partners that `new` now completes."""
    partners: tuple[str, ...]
    check: Callable[[Context], Finding | None]
    if new.analyte in URINE_ANALYTES and is_haematuria(new, settings.urine_rbc.high):
        partners, check = ("creatinine",), creatinine_combined
    elif new.analyte == "bilirubin":
        partners, check = LIVER_ENZYMES, enzyme_combined
    else:
        return []
    pool = [*history, new]
    found = []
    for partner in history:
        if partner.analyte in partners and partner.collected_on == new.collected_on:
            others = [r for r in pool if r is not partner]
            finding = check(Context(partner, others, patient, settings))
            if finding is not None:
                found.append(finding)
    return found
