"""Property tests: the rules never raise on valid input, severity is monotone in the value, and
the history they read (`analytes_read` and the same date) gives the whole history's answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain.courses import make_course
from monitor.domain.rules import (
    DEFAULT_SETTINGS,
    Finding,
    LymphocyteSettings,
    PatientContext,
    ResultFact,
    RuleSettings,
    Severity,
    analytes_read,
    evaluate,
)
from monitor.domain.units import ANALYTES, ORDINAL_SCALES, UNITS, measure

DAY0 = date(2024, 1, 1)
NUMERIC = sorted(UNITS)
# Any finite value whose conversion stays finite (measure() refuses larger ones by design).
values = st.floats(min_value=0, max_value=1e300, allow_nan=False, allow_infinity=False)
days = st.integers(min_value=-60, max_value=500)
ranges = st.one_of(st.none(), st.floats(min_value=0, max_value=1e4, allow_nan=False))


@st.composite
def patients(draw: st.DrawFn) -> PatientContext:
    starts = draw(st.lists(st.integers(0, 400), max_size=2, unique=True))
    courses = []
    for start in sorted(starts):
        first = DAY0 + timedelta(days=start * 2)
        courses.append(
            make_course(first + timedelta(days=i) for i in range(draw(st.integers(1, 5))))
        )
    pregnancies: list[tuple[date, date | None]] = []
    if draw(st.booleans()):
        begin = DAY0 + timedelta(days=draw(days))
        end = draw(st.one_of(st.none(), st.integers(0, 280)))
        pregnancies.append((begin, None if end is None else begin + timedelta(days=end)))
    sex = draw(st.sampled_from(["F", "M", "X", None, "?"]))
    return PatientContext(sex=sex, courses=courses, pregnancies=pregnancies)


@st.composite
def facts(
    draw: st.DrawFn,
    key: int,
    analyte: str | None = None,
    pool: tuple[str, ...] = ANALYTES,
    on_days: st.SearchStrategy[int] = days,
) -> ResultFact:
    """Any valid stored result: a real unit conversion of any finite non-negative value."""
    name = analyte or draw(st.sampled_from(pool))
    on = DAY0 + timedelta(days=draw(on_days))
    low, high, menstruating = draw(ranges), draw(ranges), draw(st.booleans())
    if name in ORDINAL_SCALES:
        word = measure(name, draw(st.sampled_from(ORDINAL_SCALES[name])), None).ordinal
        return ResultFact(key, name, on, None, word, low, high, menstruating)
    unit = draw(st.sampled_from(sorted(UNITS[name][1])))
    value = measure(name, repr(draw(values)), unit).canonical_value
    return ResultFact(key, name, on, value, None, low, high, menstruating)


@st.composite
def histories(
    draw: st.DrawFn, pool: tuple[str, ...] = ANALYTES, on_days: st.SearchStrategy[int] = days
) -> list[ResultFact]:
    size = draw(st.integers(0, 8))
    return [draw(facts(key, pool=pool, on_days=on_days)) for key in range(100, 100 + size)]


def worst(findings: list[Finding]) -> int:
    return max((f.severity.rank for f in findings), default=0)


# results clustered on a few dates around the subject's (day 100), so previous results,
# baselines, dip windows and same-day partners all actually occur
NEAR = st.sampled_from([-5, 0, 3, 60, 95, 100, 101])
PARTNERS = {
    "creatinine": ("creatinine", "urine_rbc", "urine_blood"),
    "alt": ("alt", "bilirubin"),
    "ast": ("ast", "bilirubin"),
    "bilirubin": ("alt", "ast", "bilirubin"),
}


@settings(max_examples=200, deadline=None)
@given(data=st.data(), analyte=st.sampled_from(NUMERIC), history=histories(), patient=patients())
def test_evaluate_never_raises_for_any_valid_value_and_unit(
    data: st.DataObject, analyte: str, history: list[ResultFact], patient: PatientContext
) -> None:
    new = data.draw(facts(1, analyte))
    findings = evaluate(new, history, patient)
    keys = {new.key} | {r.key for r in history}
    for finding in findings:
        assert finding.result_key in keys
        assert isinstance(finding.severity, Severity)
        assert finding.message


@settings(max_examples=100, deadline=None)
@given(
    new=st.sampled_from(sorted(ORDINAL_SCALES)).flatmap(lambda a: facts(1, a)),
    history=histories(),
    patient=patients(),
)
def test_evaluate_never_raises_for_any_ordinal(
    new: ResultFact, history: list[ResultFact], patient: PatientContext
) -> None:
    for finding in evaluate(new, history, patient):
        assert isinstance(finding.severity, Severity)


def _with_value(fact: ResultFact, value: float) -> ResultFact:
    return ResultFact(
        fact.key,
        fact.analyte,
        fact.collected_on,
        value,
        None,
        fact.ref_low,
        fact.ref_high,
        fact.is_menstruating,
    )


def _monotone(analyte: str, lower_is_worse: bool, floor: float = 0.0) -> Callable[[], None]:
    """A property test: a worse value of `analyte` never gets a lower worst severity."""
    pool = PARTNERS.get(analyte, (analyte,))

    @settings(max_examples=100, deadline=None)
    @given(
        data=st.data(),
        a=st.floats(min_value=floor, max_value=1e6, allow_nan=False),
        b=st.floats(min_value=floor, max_value=1e6, allow_nan=False),
        history=histories(pool, NEAR),
        patient=patients(),
    )
    def check(
        data: st.DataObject,
        a: float,
        b: float,
        history: list[ResultFact],
        patient: PatientContext,
    ) -> None:
        template = data.draw(facts(1, analyte, on_days=st.just(100)))
        if analyte == "tsh":  # above-range direction only: keep the default range
            template = ResultFact(template.key, "tsh", template.collected_on, 0.0, None)
        low, high = sorted((a, b))
        worse, better = (low, high) if lower_is_worse else (high, low)
        worse_rank = worst(evaluate(_with_value(template, worse), history, patient))
        better_rank = worst(evaluate(_with_value(template, better), history, patient))
        assert worse_rank >= better_rank

    return check


test_lower_platelets_never_lower_severity = _monotone("platelets", lower_is_worse=True)
test_lower_neutrophils_never_lower_severity = _monotone("neutrophils", lower_is_worse=True)
test_lower_hemoglobin_never_lower_severity = _monotone("hemoglobin", lower_is_worse=True)
test_higher_creatinine_never_lower_severity = _monotone("creatinine", lower_is_worse=False)
test_higher_alt_never_lower_severity = _monotone("alt", lower_is_worse=False)
test_higher_ast_never_lower_severity = _monotone("ast", lower_is_worse=False)
test_higher_bilirubin_never_lower_severity = _monotone("bilirubin", lower_is_worse=False)
test_higher_tsh_above_range_never_lower_severity = _monotone("tsh", False, floor=4.0)


# lymphocytes are judged only under a cut-off a clinic or protocol sets: set one, so that rule runs
WITH_LYMPHOCYTES = replace(
    DEFAULT_SETTINGS, lymphocytes=LymphocyteSettings(review_below=1.0, urgent_below=0.5)
)
# canonical values from well below to well above each analyte's usual range, so rises, falls,
# drops from baseline, haematuria and the combined findings all occur (0 to 3x the high end)
TYPICAL_HIGH = {
    "platelets": 400.0,
    "neutrophils": 8.0,
    "lymphocytes": 4.0,
    "wbc": 11.0,
    "hemoglobin": 170.0,
    "creatinine": 120.0,
    "urine_rbc": 5.0,
    "upcr": 30.0,
    "tsh": 4.0,
    "free_t4": 22.0,
    "alt": 40.0,
    "ast": 40.0,
    "bilirubin": 21.0,
}


@st.composite
def clinical_facts(draw: st.DrawFn, key: int, on_days: st.SearchStrategy[int]) -> ResultFact:
    """A stored result with a value near its analyte's range (or a word of its scale)."""
    name = draw(st.sampled_from(ANALYTES))
    on = DAY0 + timedelta(days=draw(on_days))
    low, high = draw(st.sampled_from([(None, None), (None, 3.0), (1.0, 2.0)]))
    menstruating = draw(st.booleans())
    if name in ORDINAL_SCALES:
        word = draw(st.sampled_from(ORDINAL_SCALES[name]))
        return ResultFact(key, name, on, None, word, low, high, menstruating)
    value = draw(st.floats(min_value=0, max_value=3 * TYPICAL_HIGH[name]))
    return ResultFact(key, name, on, value, None, low, high, menstruating)


@settings(max_examples=1500, deadline=None)
@given(
    data=st.data(),
    size=st.integers(0, 24),
    patient=patients(),
    rule_settings=st.sampled_from([DEFAULT_SETTINGS, WITH_LYMPHOCYTES]),
)
def test_the_history_read_gives_the_whole_historys_findings(
    data: st.DataObject, size: int, patient: PatientContext, rule_settings: RuleSettings
) -> None:
    """Judged against only the results of `analytes_read` and of the new result's date (and any
    others a query happens to bring, in the same order), a new result gets exactly the findings
    the patient's whole history gives it: what lets an import read a few analytes, not hundreds
    of rows a patient (issue 15)."""
    new = data.draw(clinical_facts(1, st.just(100)))
    history = [data.draw(clinical_facts(key, NEAR)) for key in range(100, 100 + size)]
    read = analytes_read([new.analyte])
    extra = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))
    kept = [
        fact
        for fact, also in zip(history, extra, strict=True)
        if fact.analyte in read or fact.collected_on == new.collected_on or also
    ]
    assert evaluate(new, kept, patient, rule_settings) == evaluate(
        new, history, patient, rule_settings
    )


def test_analytes_read_adds_the_urinalysis_and_its_creatinine_partner() -> None:
    assert analytes_read(["platelets"]) == {"platelets"}
    assert analytes_read(["urine_blood"]) == {"urine_blood", "urine_rbc", "creatinine"}
    assert analytes_read(["tsh", "creatinine"]) == {"tsh", "creatinine"}
    assert analytes_read([]) == frozenset()
