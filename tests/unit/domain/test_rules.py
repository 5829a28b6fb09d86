"""Flag rules of SPEC §4/§9, tier by tier, with values converted by the real units.measure."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from monitor.domain.courses import make_course
from monitor.domain.rules import (
    Finding,
    PatientContext,
    ResultFact,
    Severity,
    evaluate,
    highest,
)
from monitor.domain.units import measure

COURSE_1 = make_course(date(2024, 1, 8) + timedelta(days=i) for i in range(5))  # 8th..12th
COURSE_2 = make_course(date(2025, 1, 13) + timedelta(days=i) for i in range(3))  # 13th..15th
BEFORE = date(2024, 1, 2)  # pre-treatment
LATER = date(2024, 6, 3)  # well after course 1, outside any dip
PATIENT = PatientContext(sex="F", courses=(COURSE_1, COURSE_2))
NO_COURSE = PatientContext(sex="F", courses=())
_keys = itertools.count(1)


def fact(
    analyte: str,
    value: str,
    unit: str | None = None,
    on: date = LATER,
    *,
    low: float | None = None,
    high: float | None = None,
    menstruating: bool = False,
) -> ResultFact:
    """A stored result as the service would build it, through the real unit conversion."""
    m = measure(analyte, value, unit)
    return ResultFact(
        key=next(_keys),
        analyte=analyte,
        collected_on=on,
        canonical_value=m.canonical_value,
        ordinal=m.ordinal,
        ref_low=low,
        ref_high=high,
        is_menstruating=menstruating,
    )


def run(
    new: ResultFact, history: tuple[ResultFact, ...] = (), patient: PatientContext = PATIENT
) -> dict[str, Finding]:
    findings = evaluate(new, list(history), patient)
    rules = [f.rule for f in findings]
    assert len(rules) == len(set(rules)), "one finding per rule"
    return {f.rule: f for f in findings}


def severities(new: ResultFact, *history: ResultFact) -> dict[str, Severity]:
    return {rule: f.severity for rule, f in run(new, history).items()}


R, U, E = Severity.REVIEW, Severity.URGENT, Severity.EMERGENCY


# --- Severity ---------------------------------------------------------------------------------


def test_severity_rank_orders_review_below_urgent_below_emergency() -> None:
    assert R.rank < U.rank < E.rank
    assert highest([U, E, R]) is E
    assert highest([]) is None
    assert str(E) == "emergency"


# --- platelets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("150", "10^9/L", None),
        ("149.9", "10^9/L", R),
        ("150000", "/uL", None),
        ("149900", "cells/uL", R),
        ("100", "K/uL", R),
        ("99.9", "K/uL", U),
        ("99.9", "10*3/uL", U),
        ("50", "x10E9/L", U),
        ("49.9", "x10E9/L", E),
        ("49900", "/uL", E),
        ("0", "10^9/L", E),
        ("400", "10^9/L", None),
    ],
)
def test_platelets_low_tiers(value: str, unit: str, expected: Severity | None) -> None:
    assert severities(fact("platelets", value, unit)).get("platelets.low") == expected


@pytest.mark.parametrize(
    ("lab_low", "value", "expected"),
    [(140, "141", None), (140, "145", None), (140, "139.9", R), (180, "170", R), (120, "99", U)],
)
def test_platelets_lab_lower_limit_replaces_150_but_fixed_cutoffs_stay(
    lab_low: float, value: str, expected: Severity | None
) -> None:
    found = severities(fact("platelets", value, "10^9/L", low=lab_low))
    assert found.get("platelets.low") == expected


@pytest.mark.parametrize(
    ("before", "now", "fires"),
    [("300", "150", True), ("300", "150.1", False), ("400", "160", True), ("200", "120", False)],
)
def test_platelets_fall_of_half_or_more_from_previous_is_review(
    before: str, now: str, fires: bool
) -> None:
    previous = fact("platelets", before, "10^9/L", on=LATER - timedelta(days=30))
    found = severities(fact("platelets", now, "10^9/L"), previous)
    assert found.get("platelets.fall") == (R if fires else None)


def test_platelets_fall_compares_with_latest_earlier_result_not_same_day_or_later() -> None:
    old = fact("platelets", "400", "10^9/L", on=LATER - timedelta(days=60))
    previous = fact("platelets", "250", "10^9/L", on=LATER - timedelta(days=30))
    same_day = fact("platelets", "500", "10^9/L", on=LATER)
    after = fact("platelets", "900", "10^9/L", on=LATER + timedelta(days=30))
    found = severities(fact("platelets", "160", "10^9/L"), old, previous, same_day, after)
    assert "platelets.fall" not in found


def test_platelets_fall_works_across_units() -> None:
    previous = fact("platelets", "300000", "/uL", on=LATER - timedelta(days=30))
    assert "platelets.fall" in severities(fact("platelets", "150", "K/uL"), previous)


@pytest.mark.parametrize(
    ("on", "value", "expected", "annotated"),
    [
        (date(2024, 1, 8), "60", R, True),  # first infusion day
        (date(2024, 1, 10), "90", R, True),  # mid-course
        (date(2024, 1, 19), "60", R, True),  # day 7 after last infusion: included
        (date(2024, 1, 20), "60", U, False),  # day 8: not
        (date(2024, 1, 7), "60", U, False),  # day before the course
        (date(2024, 1, 19), "49", E, True),  # < 50 is never capped
        (date(2024, 1, 10), "140", R, True),  # review stays review
        (date(2025, 1, 22), "60", R, True),  # day 7 after course 2
        (date(2025, 1, 23), "60", U, False),  # day 8 after course 2
    ],
)
def test_platelets_post_infusion_dip_caps_at_review_unless_below_50(
    on: date, value: str, expected: Severity, annotated: bool
) -> None:
    finding = run(fact("platelets", value, "10^9/L", on=on))["platelets.low"]
    assert finding.severity == expected
    assert ("expected post-infusion dip" in finding.message.lower()) == annotated


def test_platelets_fall_in_dip_window_is_annotated() -> None:
    previous = fact("platelets", "300", "10^9/L", on=date(2024, 1, 2))
    found = run(fact("platelets", "140", "10^9/L", on=date(2024, 1, 15)), (previous,))
    assert "expected post-infusion dip" in found["platelets.fall"].message.lower()
    assert found["platelets.fall"].severity == R


# --- neutrophils, lymphocytes and the never-flagged analytes -------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("1.5", "10^9/L", None),
        ("1.49", "10^9/L", R),
        ("1000", "cells/uL", R),
        ("999", "cells/uL", U),
        ("1.0", "K/uL", R),
        ("0.99", "K/uL", U),
        ("0.5", "10^9/L", U),
        ("0.49", "10^9/L", E),
        ("490", "/uL", E),
    ],
)
def test_neutrophil_tiers(value: str, unit: str, expected: Severity | None) -> None:
    assert severities(fact("neutrophils", value, unit)).get("neutrophils.low") == expected


def test_neutrophil_lab_lower_limit_replaces_review_cutoff_only() -> None:
    assert "neutrophils.low" not in severities(fact("neutrophils", "1.3", "10^9/L", low=1.2))
    assert severities(fact("neutrophils", "1.8", "10^9/L", low=2.0))["neutrophils.low"] == R
    assert severities(fact("neutrophils", "0.8", "10^9/L", low=0.5))["neutrophils.low"] == U


@pytest.mark.parametrize("analyte", ["lymphocytes", "wbc"])
@pytest.mark.parametrize("value", ["0", "0.01", "0.2", "5"])
def test_lymphocytes_and_wbc_never_flag_however_low(analyte: str, value: str) -> None:
    previous = fact(analyte, "9", "10^9/L", on=BEFORE)
    assert run(fact(analyte, value, "10^9/L", on=date(2024, 1, 15)), (previous,)) == {}


@pytest.mark.parametrize(
    ("analyte", "value", "unit"),
    [("upcr", "900", "mg/mmol"), ("free_t4", "0", "pmol/L"), ("free_t4", "99", "ng/dL")],
)
def test_upcr_and_free_t4_are_never_flagged(analyte: str, value: str, unit: str) -> None:
    assert run(fact(analyte, value, unit)) == {}


# --- hemoglobin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "value", "unit", "fires"),
    [
        ("F", "120", "g/L", False),
        ("F", "119.9", "g/L", True),
        ("F", "12.0", "g/dL", False),
        ("F", "11.99", "g/dL", True),
        ("M", "130", "g/L", False),
        ("M", "129.9", "g/L", True),
        ("M", "8.0", "mmol/L", True),  # 128.9 g/L
        ("X", "120", "g/L", False),
        ("X", "119", "g/L", True),
        (None, "119", "g/L", True),  # unknown sex counts as X
        (None, "125", "g/L", False),
    ],
)
def test_hemoglobin_below_default_range_per_sex(
    sex: str | None, value: str, unit: str, fires: bool
) -> None:
    patient = PatientContext(sex=sex, courses=(COURSE_1,))
    found = run(fact("hemoglobin", value, unit), patient=patient)
    assert ("hemoglobin.below_range" in found) == fires
    if fires:
        assert found["hemoglobin.below_range"].severity == R


def test_hemoglobin_lab_range_replaces_default() -> None:
    assert "hemoglobin.below_range" not in severities(fact("hemoglobin", "115", "g/L", low=110))
    assert "hemoglobin.below_range" in severities(fact("hemoglobin", "125", "g/L", low=130))


@pytest.mark.parametrize(
    ("baseline", "value", "unit", "fires"),
    [
        ("150", "130", "g/L", True),  # exactly 20 below
        ("150", "130.1", "g/L", False),
        ("15.0", "13.0", "g/dL", True),
        ("15.0", "13.01", "g/dL", False),
        ("150", "200", "g/L", False),
    ],
)
def test_hemoglobin_drop_of_20_or_more_below_baseline_is_urgent(
    baseline: str, value: str, unit: str, fires: bool
) -> None:
    base = fact("hemoglobin", baseline, unit, on=BEFORE)
    found = severities(fact("hemoglobin", value, unit), base)
    assert found.get("hemoglobin.baseline_drop") == (U if fires else None)


def test_hemoglobin_baseline_is_latest_result_on_or_before_first_infusion() -> None:
    early = fact("hemoglobin", "170", "g/L", on=date(2023, 12, 1))
    on_day_1 = fact("hemoglobin", "140", "g/L", on=COURSE_1.first_on)
    after_start = fact("hemoglobin", "170", "g/L", on=date(2024, 1, 9))
    found = severities(fact("hemoglobin", "125", "g/L"), early, on_day_1, after_start)
    assert "hemoglobin.baseline_drop" not in found  # 140 - 125 = 15
    found = severities(fact("hemoglobin", "120", "g/L"), early, on_day_1, after_start)
    assert found["hemoglobin.baseline_drop"] == U


def test_baseline_rules_do_nothing_without_a_pre_treatment_result() -> None:
    after_start = fact("hemoglobin", "170", "g/L", on=date(2024, 2, 1))
    assert "hemoglobin.baseline_drop" not in severities(
        fact("hemoglobin", "125", "g/L"), after_start
    )
    creat = fact("creatinine", "60", "umol/L", on=date(2024, 2, 1))
    found = severities(fact("creatinine", "85", "umol/L", on=LATER), creat)
    assert "creatinine.rise" not in found  # +25 vs previous, no baseline


def test_baseline_rules_do_nothing_without_a_course() -> None:
    base = fact("hemoglobin", "170", "g/L", on=BEFORE)
    assert run(fact("hemoglobin", "125", "g/L"), (base,), patient=NO_COURSE) == {}


def test_pre_treatment_result_is_not_judged_against_another_pre_treatment_result() -> None:
    earlier = fact("hemoglobin", "170", "g/L", on=date(2023, 12, 1))
    assert run(fact("hemoglobin", "125", "g/L", on=BEFORE), (earlier,)) == {}


# --- creatinine -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "value", "unit", "fires"),
    [
        ("F", "90", "umol/L", False),
        ("F", "90.1", "umol/L", True),
        ("F", "1.02", "mg/dL", True),  # 90.17
        ("F", "1.01", "mg/dL", False),  # 89.28
        ("M", "110", "µmol/L", False),
        ("M", "110.1", "μmol/L", True),
        ("X", "110", "umol/L", False),
        ("X", "111", "umol/L", True),
    ],
)
def test_creatinine_above_default_range_per_sex(
    sex: str, value: str, unit: str, fires: bool
) -> None:
    patient = PatientContext(sex=sex, courses=(COURSE_1,))
    found = run(fact("creatinine", value, unit), patient=patient)
    assert (found.get("creatinine.above_range") is not None) == fires


def test_creatinine_lab_range_replaces_default() -> None:
    assert "creatinine.above_range" not in severities(fact("creatinine", "100", "umol/L", high=104))
    assert "creatinine.above_range" in severities(fact("creatinine", "85", "umol/L", high=80))


@pytest.mark.parametrize(
    ("baseline", "value", "unit", "fires"),
    [
        ("60", "90", "umol/L", True),  # exactly 1.5x (rise vs previous is separately < 26.5)
        ("60", "89.9", "umol/L", False),
        ("1.0", "1.5", "mg/dL", True),  # 88.4 -> 132.6, conversion noise must not hide it
        ("1.0", "1.49", "mg/dL", False),
    ],
)
def test_creatinine_one_and_a_half_times_baseline_is_urgent(
    baseline: str, value: str, unit: str, fires: bool
) -> None:
    base = fact("creatinine", baseline, unit, on=BEFORE)
    # a previous result close to the new value so only the baseline ratio can fire
    prev = fact("creatinine", value, unit, on=LATER - timedelta(days=30))
    found = severities(fact("creatinine", value, unit), base, prev)
    assert found.get("creatinine.rise") == (U if fires else None)


@pytest.mark.parametrize(
    ("previous", "value", "unit", "fires"),
    [
        ("70", "96.5", "umol/L", True),  # +26.5 exactly
        ("70", "96.4", "umol/L", False),
        ("0.8", "1.1", "mg/dL", True),  # +0.3 mg/dL = +26.52
        ("0.8", "1.09", "mg/dL", False),
    ],
)
def test_creatinine_rise_of_26_5_above_previous_is_urgent(
    previous: str, value: str, unit: str, fires: bool
) -> None:
    prev = fact("creatinine", previous, unit, on=LATER - timedelta(days=30))
    found = severities(fact("creatinine", value, unit), prev)
    assert found.get("creatinine.rise") == (U if fires else None)


def _risen_creatinine_with(*urine: ResultFact) -> dict[str, Severity]:
    prev = fact("creatinine", "70", "umol/L", on=LATER - timedelta(days=30))
    return severities(fact("creatinine", "100", "umol/L"), prev, *urine)


@pytest.mark.parametrize(
    ("urine", "emergency"),
    [
        (("urine_blood", "1+", None, {}), True),
        (("urine_blood", "4+", None, {}), True),
        (("urine_blood", "trace", None, {}), False),
        (("urine_blood", "negative", None, {}), False),
        (("urine_rbc", "3", "/HPF", {}), True),
        (("urine_rbc", "2", "/HPF", {}), False),
        (("urine_rbc", "3", "cells/HPF", {"high": 5.0}), False),  # lab range replaces 0-2
        (("urine_rbc", "6", "/[HPF]", {"high": 5.0}), True),
        (("urine_blood", "2+", None, {"menstruating": True}), False),
        (("urine_rbc", "20", "/HPF", {"menstruating": True}), False),
    ],
)
def test_creatinine_rise_with_same_day_haematuria_is_emergency(
    urine: tuple[str, str, str | None, dict[str, object]], emergency: bool
) -> None:
    analyte, value, unit, extra = urine
    high = extra.get("high")
    partner = fact(
        analyte,
        value,
        unit,
        high=high if isinstance(high, float) else None,
        menstruating=bool(extra.get("menstruating", False)),
    )
    found = _risen_creatinine_with(partner)
    assert found["creatinine.rise"] == U
    assert found.get("creatinine.rise_with_haematuria") == (E if emergency else None)


def test_haematuria_on_another_day_does_not_make_creatinine_emergency() -> None:
    found = _risen_creatinine_with(fact("urine_blood", "3+", on=LATER - timedelta(days=1)))
    assert "creatinine.rise_with_haematuria" not in found


def test_haematuria_without_creatinine_rise_is_no_creatinine_emergency() -> None:
    blood = fact("urine_blood", "3+")
    assert "creatinine.rise_with_haematuria" not in severities(
        fact("creatinine", "100", "umol/L"), blood
    )


def test_urine_arriving_after_risen_creatinine_rechecks_combined_rule_on_creatinine() -> None:
    prev = fact("creatinine", "70", "umol/L", on=LATER - timedelta(days=30))
    creat = fact("creatinine", "1.2", "mg/dL")  # 106.08
    urine = fact("urine_blood", "2+")
    findings = evaluate(urine, [prev, creat], PATIENT)
    combined = [f for f in findings if f.rule == "creatinine.rise_with_haematuria"]
    assert [(f.result_key, f.severity) for f in combined] == [(creat.key, E)]
    assert {f.rule for f in findings if f.result_key == urine.key} == {"urine.haematuria"}


@pytest.mark.parametrize(
    ("creatinine_value", "urine", "rechecked"),
    [
        ("100", fact("urine_rbc", "3", "/HPF"), True),
        ("80", fact("urine_rbc", "3", "/HPF"), False),  # creatinine not risen
        ("100", fact("urine_rbc", "2", "/HPF"), False),  # urine clear
        ("100", fact("urine_rbc", "9", "/HPF", menstruating=True), False),
        ("100", fact("urine_rbc", "9", "/HPF", on=LATER + timedelta(days=1)), False),
        ("100", fact("urine_protein", "3+"), False),  # protein is not a partner
    ],
)
def test_partner_recheck_only_when_new_urine_completes_the_rule(
    creatinine_value: str, urine: ResultFact, rechecked: bool
) -> None:
    prev = fact("creatinine", "70", "umol/L", on=LATER - timedelta(days=30))
    creat = fact("creatinine", creatinine_value, "umol/L")
    findings = evaluate(urine, [prev, creat], PATIENT)
    keys = [f.result_key for f in findings if f.rule == "creatinine.rise_with_haematuria"]
    assert keys == ([creat.key] if rechecked else [])


# --- urine ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "extra", "fires"),
    [
        ("urine_rbc", "2", "/HPF", {}, False),
        ("urine_rbc", "2.1", "/HPF", {}, True),
        ("urine_rbc", "3", "cells/HPF", {}, True),
        ("urine_rbc", "4", "/HPF", {"high": 5.0}, False),
        ("urine_rbc", "5.5", "/HPF", {"high": 5.0}, True),
        ("urine_rbc", "30", "/HPF", {"menstruating": True}, False),
        ("urine_blood", "negative", None, {}, False),
        ("urine_blood", "trace", "ordinal", {}, False),
        ("urine_blood", "1+", None, {}, True),
        ("urine_blood", "+", None, {}, True),
        ("urine_blood", "3+", None, {"menstruating": True}, False),
    ],
)
def test_haematuria_is_review_unless_menstruating(
    analyte: str, value: str, unit: str | None, extra: dict[str, object], fires: bool
) -> None:
    high = extra.get("high")
    new = fact(
        analyte,
        value,
        unit,
        high=high if isinstance(high, float) else None,
        menstruating=bool(extra.get("menstruating", False)),
    )
    assert severities(new).get("urine.haematuria") == (R if fires else None)


def _urine(analyte: str, value: str, days_ago: int, menstruating: bool = False) -> ResultFact:
    unit = "/HPF" if analyte == "urine_rbc" else None
    return fact(
        analyte, value, unit, on=LATER - timedelta(days=days_ago), menstruating=menstruating
    )


@pytest.mark.parametrize(
    ("history", "repeated"),
    [
        ((_urine("urine_rbc", "5", 30),), True),
        ((_urine("urine_blood", "2+", 30),), True),  # other measure, same finding
        ((_urine("urine_rbc", "1", 30),), False),
        ((_urine("urine_rbc", "5", 60), _urine("urine_rbc", "1", 30)), False),  # clear between
        ((_urine("urine_rbc", "5", 30), _urine("urine_blood", "negative", 30)), True),
        ((_urine("urine_rbc", "5", 60), _urine("urine_rbc", "9", 30, True)), True),  # skipped
        ((_urine("urine_rbc", "5", 30, True),), False),  # menstruating one does not count
        ((_urine("urine_rbc", "5", 0),), False),  # same day is not the previous urinalysis
        ((_urine("urine_rbc", "5", -30),), False),  # later ones are not previous
        ((), False),
    ],
)
def test_haematuria_in_two_consecutive_urinalyses_is_urgent(
    history: tuple[ResultFact, ...], repeated: bool
) -> None:
    found = severities(fact("urine_rbc", "4", "/HPF"), *history)
    assert found["urine.haematuria"] == R
    assert found.get("urine.haematuria_repeated") == (U if repeated else None)


def test_menstruating_sample_never_escalates_even_after_haematuria() -> None:
    new = fact("urine_blood", "3+", menstruating=True)
    assert run(new, (_urine("urine_blood", "3+", 30),)) == {}


@pytest.mark.parametrize(
    ("value", "fires"),
    [("negative", False), ("trace", False), ("1+", True), ("4+", True), ("nil", False)],
)
def test_urine_protein_one_plus_or_more_is_review(value: str, fires: bool) -> None:
    found = severities(fact("urine_protein", value))
    assert found.get("urine_protein.positive") == (R if fires else None)
    found = severities(fact("urine_protein", value, menstruating=True))
    assert found.get("urine_protein.positive") == (R if fires else None)


# --- TSH --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("0.4", "mIU/L", None),
        ("0.39", "mIU/L", R),
        ("4.0", "uIU/mL", None),
        ("4.01", "µIU/mL", R),
        ("0.1", "mU/L", R),
        ("0.09", "mU/L", U),
        ("10", "m[IU]/L", R),
        ("10.01", "u[IU]/mL", U),
        ("0", "mIU/L", U),
        ("2", "mIU/L", None),
    ],
)
def test_tsh_tiers(value: str, unit: str, expected: Severity | None) -> None:
    assert severities(fact("tsh", value, unit)).get("tsh.out_of_range") == expected


@pytest.mark.parametrize(
    ("low", "high", "value", "expected"),
    [
        (0.3, 5.0, "4.5", None),
        (0.3, 5.0, "0.35", None),
        (0.5, 3.5, "3.6", R),
        (0.05, 12.0, "0.08", U),  # fixed < 0.1 stays
        (0.05, 12.0, "11", U),  # fixed > 10 stays
    ],
)
def test_tsh_lab_range_replaces_default_but_urgent_cutoffs_stay(
    low: float, high: float, value: str, expected: Severity | None
) -> None:
    found = severities(fact("tsh", value, "mIU/L", low=low, high=high))
    assert found.get("tsh.out_of_range") == expected


PREGNANT = PatientContext(sex="F", courses=(COURSE_1,), pregnancies=((date(2024, 5, 1), None),))
ENDED = PatientContext(
    sex="F", courses=(COURSE_1,), pregnancies=((date(2024, 3, 1), date(2024, 6, 3)),)
)
EARLIER = PatientContext(
    sex="F", courses=(COURSE_1,), pregnancies=((date(2024, 3, 1), date(2024, 6, 2)),)
)


@pytest.mark.parametrize(
    ("patient", "value", "pregnancy_flag"),
    [
        (PREGNANT, "4.5", True),
        (PREGNANT, "0.3", True),
        (PREGNANT, "2", False),  # normal TSH: no flag at all
        (ENDED, "4.5", True),  # end day is inclusive
        (EARLIER, "4.5", False),
        (PATIENT, "4.5", False),
    ],
)
def test_abnormal_tsh_during_pregnancy_is_urgent(
    patient: PatientContext, value: str, pregnancy_flag: bool
) -> None:
    found = run(fact("tsh", value, "mIU/L"), patient=patient)
    assert (found.get("tsh.pregnancy") is not None) == pregnancy_flag
    if pregnancy_flag:
        assert found["tsh.pregnancy"].severity == U
        assert found["tsh.out_of_range"].severity == R


# --- ALT / AST / bilirubin -------------------------------------------------------------------


@pytest.mark.parametrize("analyte", ["alt", "ast"])
@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("40", "U/L", None),
        ("40.1", "IU/L", R),
        ("120", "[IU]/L", R),
        ("120.1", "U/L", U),
        ("200", "U/L", U),
        ("200.1", "U/L", E),
        ("2000", "U/L", E),
    ],
)
def test_liver_enzyme_tiers(analyte: str, value: str, unit: str, expected: Severity | None) -> None:
    assert severities(fact(analyte, value, unit)).get(f"{analyte}.above_range") == expected


@pytest.mark.parametrize(
    ("uln", "value", "expected"),
    [(30.0, "35", R), (30.0, "90", R), (30.0, "91", U), (30.0, "151", E), (50.0, "45", None)],
)
def test_liver_enzyme_lab_uln_replaces_default_for_multiples(
    uln: float, value: str, expected: Severity | None
) -> None:
    assert severities(fact("alt", value, "U/L", high=uln)).get("alt.above_range") == expected


@pytest.mark.parametrize(
    ("value", "unit", "fires"),
    [
        ("21", "umol/L", False),
        ("21.1", "umol/L", True),
        ("1.2", "mg/dL", False),  # 20.52 umol/L
        ("1.3", "mg/dL", True),  # 22.23 umol/L
    ],
)
def test_bilirubin_above_range_is_review(value: str, unit: str, fires: bool) -> None:
    assert severities(fact("bilirubin", value, unit)).get("bilirubin.above_range") == (
        R if fires else None
    )


@pytest.mark.parametrize("analyte", ["alt", "ast"])
@pytest.mark.parametrize(
    ("enzyme", "bilirubin", "bili_unit", "bili_high", "fires"),
    [
        ("121", "43", "umol/L", None, True),
        ("121", "42", "umol/L", None, False),  # exactly 2x: strict
        ("120", "60", "umol/L", None, False),  # exactly 3x ULN: strict
        ("121", "2.5", "mg/dL", None, True),  # 42.75 umol/L
        ("121", "2.4", "mg/dL", None, False),  # 41.04 umol/L
        ("121", "43", "umol/L", 25.0, False),  # lab ULN 25 -> needs > 50
    ],
)
def test_liver_enzyme_over_3x_with_bilirubin_over_2x_same_day_is_emergency(
    analyte: str,
    enzyme: str,
    bilirubin: str,
    bili_unit: str,
    bili_high: float | None,
    fires: bool,
) -> None:
    bili = fact("bilirubin", bilirubin, bili_unit, high=bili_high)
    found = severities(fact(analyte, enzyme, "U/L"), bili)
    assert found.get(f"{analyte}.with_bilirubin") == (E if fires else None)


def test_bilirubin_arriving_after_alt_rechecks_combined_rule_on_alt() -> None:
    alt = fact("alt", "150", "U/L")
    ast = fact("ast", "100", "U/L")  # only 2.5x: no combined flag
    other_day = fact("alt", "300", "U/L", on=LATER - timedelta(days=1))
    bili = fact("bilirubin", "3", "mg/dL")  # 51.3
    findings = evaluate(bili, [alt, ast, other_day], PATIENT)
    assert {(f.result_key, f.rule, f.severity) for f in findings} == {
        (bili.key, "bilirubin.above_range", R),
        (alt.key, "alt.with_bilirubin", E),
    }


def test_bilirubin_under_twice_uln_rechecks_nothing() -> None:
    alt = fact("alt", "150", "U/L")
    bili = fact("bilirubin", "30", "umol/L")
    findings = evaluate(bili, [alt], PATIENT)
    assert [(f.result_key, f.rule, f.message) for f in findings] == [
        (
            bili.key,
            "bilirubin.above_range",
            "Bilirubin 30 umol/L, above the range's upper limit 21.",
        )
    ]


# --- skin, odd input, messages ------------------------------------------------------------------


def test_abnormal_skin_exam_is_review() -> None:
    assert severities(fact("skin_exam", "abnormal")) == {"skin_exam.abnormal": R}
    assert severities(fact("skin_exam", "normal")) == {}


@pytest.mark.parametrize(
    "odd",
    [
        ResultFact("k", "platelets", LATER, None, None),
        ResultFact("k", "urine_blood", LATER, None, "purple"),
        ResultFact("k", "glucose", LATER, 99.0, None),
    ],
)
def test_facts_the_rules_cannot_judge_yield_no_finding(odd: ResultFact) -> None:
    assert evaluate(odd, [], PATIENT) == []


def test_findings_carry_the_result_key_and_value_and_threshold_in_message() -> None:
    new = ResultFact("lab-42", "platelets", LATER, 92.0, None)
    [finding] = evaluate(new, [], PATIENT)
    assert finding.result_key == "lab-42"
    assert "92" in finding.message and "100" in finding.message


def test_one_result_can_fire_several_rules_each_at_its_own_tier() -> None:
    base = fact("creatinine", "60", "umol/L", on=BEFORE)
    prev = fact("creatinine", "80", "umol/L", on=LATER - timedelta(days=30))
    blood = fact("urine_blood", "1+")
    found = severities(fact("creatinine", "1.4", "mg/dL"), base, prev, blood)  # 123.76
    assert found == {
        "creatinine.above_range": R,
        "creatinine.rise": U,
        "creatinine.rise_with_haematuria": E,
    }
