"""Issue 3 through the real `monitor` command: every SPEC §4 rule fires at its documented
threshold, and nurses can see, acknowledge, waive and stop (SPEC §4, §7, §9 "Results and flags").

The patient is female (so the default ranges are haemoglobin >= 120 g/L, creatinine <= 90 umol/L)
with course 1 infused 2024-01-08..2024-01-12; the platelet post-infusion dip therefore covers
2024-01-08..2024-01-19. Results are collected on 2024-06-10 unless a rule needs history.
"""

from __future__ import annotations

import json

import pytest

MRN = "A1"
DAY = "2024-06-10"  # well after course 1 and its platelet dip
EARLIER = "2024-05-06"
BEFORE_COURSE = "2024-01-02"  # pre-treatment baseline draw


def add(
    cli,
    analyte: str,
    value: str,
    unit: str | None,
    collected: str = DAY,
    *extra: str,
    mrn: str = MRN,
) -> str:
    """`monitor result add`; returns its output (the flags it raised)."""
    unit_args = ["--unit", unit] if unit is not None else []
    args = ["--analyte", analyte, "--value", value, *unit_args, "--collected", collected]
    return cli.ok("result", "add", mrn, *args, *extra)


def flags(cli, *extra: str) -> list[dict]:
    return json.loads(cli.ok("flags", "--json", *extra))


def found(cli, analyte: str | None = None) -> set[tuple[str, str]]:
    """(rule, severity) of every open flag, optionally of one analyte only."""
    return {
        (f["rule"], f["severity"]) for f in flags(cli) if analyte is None or f["analyte"] == analyte
    }


def audit(cli, mrn: str = MRN) -> list[dict]:
    return json.loads(cli.ok("audit", mrn, "--json"))


def overdue(cli, as_of: str) -> list[dict]:
    return json.loads(cli.ok("overdue", "--as-of", as_of, "--json"))


def slots(cli, as_of: str, mrn: str = MRN) -> list[dict]:
    return json.loads(cli.ok("schedule", mrn, "--as-of", as_of, "--json"))["slots"]


def new_patient(cli, mrn: str = MRN, sex: str = "F") -> str:
    cli.ok("patient", "add", mrn, "--name", "Ann Example", "--sex", sex)
    cli.ok("course", "add", mrn, "--start", "2024-01-08", "--days", "5")
    return mrn


@pytest.fixture
def patient(cli):
    return new_patient(cli)


# --- single-result rules at their threshold edges ---------------------------------------------

REVIEW, URGENT, EMERGENCY = "review", "urgent", "emergency"

# analyte -> [(value, unit, extra options, expected {(rule, severity)})]; each case is a result
# of its own patient (no course, so no post-infusion dip and no baseline), one command each.
THRESHOLDS = {
    "platelets": [  # 10^9/L: < 150 review, < 100 urgent, < 50 emergency
        ("150", "K/uL", [], set()),
        ("149.9", "K/uL", [], {("platelets.low", REVIEW)}),
        ("100", "K/uL", [], {("platelets.low", REVIEW)}),
        ("99", "K/uL", [], {("platelets.low", URGENT)}),
        ("50", "x10E3/uL", [], {("platelets.low", URGENT)}),
        ("49", "10^9/L", [], {("platelets.low", EMERGENCY)}),
        ("150000", "/uL", [], set()),  # 150 after a lossy conversion: not below
        ("149000", "cells/uL", [], {("platelets.low", REVIEW)}),
    ],
    "neutrophils": [  # < 1.5 review, < 1.0 urgent, < 0.5 emergency
        ("1.5", "10^9/L", [], set()),
        ("1.49", "10^9/L", [], {("neutrophils.low", REVIEW)}),
        ("1.0", "K/uL", [], {("neutrophils.low", REVIEW)}),
        ("0.99", "K/uL", [], {("neutrophils.low", URGENT)}),
        ("500", "/uL", [], {("neutrophils.low", URGENT)}),
        ("0.49", "K/uL", [], {("neutrophils.low", EMERGENCY)}),
    ],
    "lymphocytes": [  # never flagged, however low: depletion is the drug's intended effect
        ("0.1", "K/uL", [], set()),
        ("0", "10^9/L", [], set()),
    ],
    "wbc": [("0.5", "K/uL", [], set())],
    "hemoglobin": [  # female range 120-155 g/L: below range review
        ("120", "g/L", [], set()),
        ("11.9", "g/dL", [], {("hemoglobin.below_range", REVIEW)}),
        ("7.4", "mmol/L", [], {("hemoglobin.below_range", REVIEW)}),  # 119.2 g/L
        ("200", "g/L", [], set()),  # only the low end flags
    ],
    "creatinine": [  # female range 45-90 umol/L: above range review
        ("90", "umol/L", [], set()),
        ("1.01", "mg/dL", [], set()),  # 89.3 umol/L
        ("1.02", "mg/dL", [], {("creatinine.above_range", REVIEW)}),  # 90.2 umol/L
        ("20", "umol/L", [], set()),  # only the high end flags
    ],
    "urine_rbc": [  # above 0-2 /HPF review, not during menstruation
        ("2", "/HPF", [], set()),
        ("3", "cells/HPF", [], {("urine.haematuria", REVIEW)}),
        ("30", "/HPF", ["--menstruating"], set()),
    ],
    "urine_blood": [  # dipstick 1+ or more review, not during menstruation
        ("trace", None, [], set()),
        ("1+", None, [], {("urine.haematuria", REVIEW)}),
        ("4+", "ordinal", [], {("urine.haematuria", REVIEW)}),
        ("3+", "ordinal", ["--menstruating"], set()),
    ],
    "urine_protein": [  # 1+ or more review; menstruation does not explain protein
        ("trace", None, [], set()),
        ("1+", None, [], {("urine_protein.positive", REVIEW)}),
        ("1+", None, ["--menstruating"], {("urine_protein.positive", REVIEW)}),
    ],
    "tsh": [  # outside 0.4-4.0 review; < 0.1 or > 10 urgent
        ("0.4", "mIU/L", [], set()),
        ("4.0", "uIU/mL", [], set()),
        ("0.39", "mIU/L", [], {("tsh.out_of_range", REVIEW)}),
        ("4.01", "mU/L", [], {("tsh.out_of_range", REVIEW)}),
        ("0.1", "mIU/L", [], {("tsh.out_of_range", REVIEW)}),
        ("0.09", "mIU/L", [], {("tsh.out_of_range", URGENT)}),
        ("10", "mIU/L", [], {("tsh.out_of_range", REVIEW)}),
        ("10.1", "\u00b5IU/mL", [], {("tsh.out_of_range", URGENT)}),
    ],
    "alt": [  # ULN 40: above review, > 3x urgent, > 5x emergency
        ("40", "U/L", [], set()),
        ("41", "IU/L", [], {("alt.above_range", REVIEW)}),
        ("120", "U/L", [], {("alt.above_range", REVIEW)}),
        ("121", "U/L", [], {("alt.above_range", URGENT)}),
        ("200", "U/L", [], {("alt.above_range", URGENT)}),
        ("201", "U/L", [], {("alt.above_range", EMERGENCY)}),
    ],
    "ast": [
        ("40", "U/L", [], set()),
        ("41", "U/L", [], {("ast.above_range", REVIEW)}),
        ("121", "IU/L", [], {("ast.above_range", URGENT)}),
        ("201", "U/L", [], {("ast.above_range", EMERGENCY)}),
    ],
    "bilirubin": [  # ULN 21 umol/L: above range review
        ("21", "umol/L", [], set()),
        ("1.3", "mg/dL", [], {("bilirubin.above_range", REVIEW)}),  # 22.2 umol/L
    ],
    "skin_exam": [
        ("normal", None, [], set()),
        ("abnormal", None, [], {("skin_exam.abnormal", REVIEW)}),
    ],
    "upcr": [("500", "mg/mmol", [], set())],  # no rule of its own
    "free_t4": [("50", "pmol/L", [], set())],
}


def judge_each(cli, cases: list[tuple]) -> tuple[dict, dict]:
    """Store each (analyte, value, unit, options, rules) case as the only result of its own
    patient; return the (rule, severity) pairs found and expected, keyed by a readable label."""
    labels, expected = {}, {}
    for n, (analyte, value, unit, extra, rules) in enumerate(cases):
        mrn, label = f"T{n}", " ".join([analyte, value, unit or "", *extra])
        cli.ok("patient", "add", mrn, "--name", "Ann Example", "--sex", "F")
        out = add(cli, analyte, value, unit, DAY, *extra, mrn=mrn)
        labels[mrn], expected[label] = label, rules
        for _, severity in rules:
            assert f"[{severity}]" in out, label  # result add tells the nurse what it raised
    got: dict[str, set] = {label: set() for label in expected}
    for flag in flags(cli):
        assert flag["analyte"] == labels[flag["mrn"]].split()[0]
        got[labels[flag["mrn"]]].add((flag["rule"], flag["severity"]))
    return got, expected


@pytest.mark.parametrize("analyte", THRESHOLDS)
def test_result_add_raises_the_documented_flag_at_each_threshold_edge(cli, analyte):
    got, expected = judge_each(cli, [(analyte, *case) for case in THRESHOLDS[analyte]])

    assert got == expected


# behaviour -> [(analyte, value, unit, the lab's range in the unit as received, expected)]
LAB_RANGES = {
    "replaces the default range": [
        ("platelets", "140", "K/uL", ["--ref-low", "130"], set()),
        ("platelets", "155", "K/uL", ["--ref-low", "160"], {("platelets.low", REVIEW)}),
        ("neutrophils", "1.3", "K/uL", ["--ref-low", "1.2"], set()),
        ("platelets", "140000", "/uL", ["--ref-low", "130000"], set()),
        ("platelets", "140000", "/uL", ["--ref-low", "145000"], {("platelets.low", REVIEW)}),
        ("hemoglobin", "11.5", "g/dL", ["--ref-low", "11.0", "--ref-high", "15.0"], set()),
        (
            "hemoglobin", "12.5", "g/dL", ["--ref-low", "13.0", "--ref-high", "17.0"],
            {("hemoglobin.below_range", REVIEW)},
        ),
        ("creatinine", "100", "umol/L", ["--ref-low", "45", "--ref-high", "110"], set()),
        (
            "creatinine", "0.9", "mg/dL", ["--ref-low", "0.5", "--ref-high", "0.85"],
            {("creatinine.above_range", REVIEW)},
        ),
        ("urine_rbc", "4", "/HPF", ["--ref-low", "0", "--ref-high", "5"], set()),
        ("tsh", "4.5", "mIU/L", ["--ref-low", "0.3", "--ref-high", "5.0"], set()),
        (
            "tsh", "0.45", "mIU/L", ["--ref-low", "0.5", "--ref-high", "4.5"],
            {("tsh.out_of_range", REVIEW)},
        ),
        ("alt", "45", "U/L", ["--ref-high", "50"], set()),
        (
            "bilirubin", "1.5", "mg/dL", ["--ref-low", "0.1", "--ref-high", "1.2"],
            {("bilirubin.above_range", REVIEW)},
        ),
    ],
    "sets the uln for multiples": [  # 3 x 20 = 60, 5 x 20 = 100, 3 x 45 = 135
        ("alt", "61", "U/L", ["--ref-high", "20"], {("alt.above_range", URGENT)}),
        ("ast", "101", "U/L", ["--ref-high", "20"], {("ast.above_range", EMERGENCY)}),
        ("alt", "130", "U/L", ["--ref-high", "45"], {("alt.above_range", REVIEW)}),
    ],
    "keeps the fixed cut-offs": [
        ("platelets", "99", "K/uL", ["--ref-low", "90"], {("platelets.low", URGENT)}),
        ("platelets", "45", "K/uL", ["--ref-low", "40"], {("platelets.low", EMERGENCY)}),
        ("neutrophils", "0.4", "K/uL", ["--ref-low", "0.3"], {("neutrophils.low", EMERGENCY)}),
        (
            "tsh", "11", "mIU/L", ["--ref-low", "0.05", "--ref-high", "12"],
            {("tsh.out_of_range", URGENT)},
        ),
        (
            "tsh", "0.08", "mIU/L", ["--ref-low", "0.05", "--ref-high", "12"],
            {("tsh.out_of_range", URGENT)},
        ),
    ],
}  # fmt: skip


@pytest.mark.parametrize("behaviour", LAB_RANGES)
def test_a_lab_sent_range_replaces_the_default_range_but_not_the_fixed_cut_offs(cli, behaviour):
    got, expected = judge_each(cli, LAB_RANGES[behaviour])

    assert got == expected


@pytest.mark.parametrize(
    ("sex", "expected"),
    [
        ("F", {("creatinine.above_range", REVIEW)}),  # haemoglobin 120-155, creatinine 45-90
        ("M", {("hemoglobin.below_range", REVIEW)}),  # 130-175, 60-110
        ("X", set()),  # the widest: 120-175, 45-110
        (None, set()),  # sex not recorded: as X
    ],
)
def test_the_default_ranges_follow_the_patients_sex(cli, sex, expected):
    cli.ok("patient", "add", MRN, "--name", "Ann Example", *(["--sex", sex] if sex else []))
    add(cli, "hemoglobin", "125", "g/L")
    add(cli, "creatinine", "100", "umol/L")

    assert found(cli) == expected


# --- rules that look at earlier results ----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [("151", set()), ("150", {("platelets.fall", REVIEW)})],
)
def test_a_platelet_fall_of_half_from_the_previous_result_is_for_review(
    cli, patient, now, expected
):
    add(cli, "platelets", "300", "K/uL", EARLIER)
    add(cli, "platelets", now, "K/uL")

    assert found(cli) == expected


@pytest.mark.parametrize(
    ("baseline", "now", "expected"),
    [
        ("150", "131", set()),
        ("150", "130", {("hemoglobin.baseline_drop", URGENT)}),
        ("15.0", "13.0", {("hemoglobin.baseline_drop", URGENT)}),  # g/dL: 150 -> 130 g/L
        ("150", "110", {("hemoglobin.baseline_drop", URGENT), ("hemoglobin.below_range", REVIEW)}),
    ],
)
def test_haemoglobin_20_g_per_l_below_the_pre_treatment_baseline_is_urgent(
    cli, patient, baseline, now, expected
):
    unit = "g/dL" if "." in baseline else "g/L"
    add(cli, "hemoglobin", baseline, unit, BEFORE_COURSE)
    add(cli, "hemoglobin", "140", "g/L", EARLIER)  # a normal value between: not the baseline
    add(cli, "hemoglobin", now, unit)

    assert found(cli) == expected


@pytest.mark.parametrize(
    ("now", "expected"), [("0.89", set()), ("0.9", {("creatinine.rise", URGENT)})]
)
def test_creatinine_one_and_a_half_times_the_pre_treatment_baseline_is_urgent(
    cli, patient, now, expected
):
    add(cli, "creatinine", "0.6", "mg/dL", BEFORE_COURSE)  # 53.04 umol/L; x1.5 = 79.56
    add(cli, "creatinine", "0.8", "mg/dL", EARLIER)  # previous: the rise from it is small
    add(cli, "creatinine", now, "mg/dL")

    assert found(cli) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("70.6", set()),
        ("70.7", {("creatinine.rise", URGENT)}),  # 44.2 + 26.5
        ("120", {("creatinine.rise", URGENT), ("creatinine.above_range", REVIEW)}),
    ],
)
def test_creatinine_26_5_umol_per_l_above_the_previous_result_is_urgent(
    cli, patient, now, expected
):
    add(cli, "creatinine", "0.5", "mg/dL", EARLIER)  # 44.2 umol/L; no pre-treatment baseline
    add(cli, "creatinine", now, "umol/L")

    assert found(cli) == expected


def risen_creatinine(cli, collected: str = DAY) -> None:
    add(cli, "creatinine", "50", "umol/L", EARLIER)
    add(cli, "creatinine", "80", "umol/L", collected)  # +30: urgent, within range


@pytest.mark.parametrize(
    ("urine", "expected_emergency"),
    [
        (("urine_blood", "1+", None, DAY), True),
        (("urine_rbc", "3", "/HPF", DAY), True),
        (("urine_blood", "trace", None, DAY), False),
        (("urine_blood", "2+", None, DAY, "--menstruating"), False),
        (("urine_blood", "2+", None, "2024-06-11"), False),  # not the same day
    ],
)
def test_risen_creatinine_with_same_day_blood_in_the_urine_is_an_emergency(
    cli, patient, urine, expected_emergency
):
    add(cli, *urine)
    risen_creatinine(cli)

    creatinine = found(cli, "creatinine")
    assert ("creatinine.rise", URGENT) in creatinine
    assert (("creatinine.rise_with_haematuria", EMERGENCY) in creatinine) is expected_emergency


def test_urine_arriving_after_the_creatinine_raises_a_new_emergency_on_the_creatinine(cli, patient):
    risen_creatinine(cli)
    (urgent,) = flags(cli)
    assert urgent["rule"] == "creatinine.rise"

    out = add(cli, "urine_blood", "1+", None)

    assert "[emergency]" in out
    emergency = next(f for f in flags(cli) if f["severity"] == EMERGENCY)
    assert emergency["rule"] == "creatinine.rise_with_haematuria"
    assert emergency["analyte"] == "creatinine"
    assert emergency["value"] == 80
    assert emergency["collected_on"] == DAY
    assert emergency["id"] > urgent["id"]
    assert found(cli) == {
        ("creatinine.rise", URGENT),
        ("creatinine.rise_with_haematuria", EMERGENCY),
        ("urine.haematuria", REVIEW),
    }


@pytest.mark.parametrize(
    "urine",
    [
        ("urine_blood", "1+", None, DAY, "--menstruating"),
        ("urine_blood", "1+", None, "2024-06-11"),
        ("urine_rbc", "4", "/HPF", DAY, "--ref-high", "5"),  # within the lab's range
    ],
)
def test_urine_arriving_after_the_creatinine_without_same_day_haematuria_adds_no_emergency(
    cli, patient, urine
):
    risen_creatinine(cli)

    add(cli, *urine)

    assert found(cli, "creatinine") == {("creatinine.rise", URGENT)}


def test_same_day_blood_in_the_urine_alone_does_not_flag_a_creatinine_that_has_not_risen(
    cli, patient
):
    add(cli, "creatinine", "60", "umol/L", EARLIER)
    add(cli, "creatinine", "70", "umol/L")
    add(cli, "urine_blood", "2+", None)

    assert found(cli, "creatinine") == set()


def test_a_second_same_day_urine_does_not_raise_the_emergency_twice(cli, patient):
    risen_creatinine(cli)
    add(cli, "urine_blood", "1+", None)
    add(cli, "urine_rbc", "5", "/HPF")

    rules = [f["rule"] for f in flags(cli)]
    assert rules.count("creatinine.rise_with_haematuria") == 1


@pytest.mark.parametrize(
    ("earlier", "repeated"),
    [
        ([("urine_rbc", "5", "/HPF", EARLIER)], True),
        ([("urine_blood", "1+", None, EARLIER)], True),
        ([("urine_blood", "negative", None, EARLIER)], False),
        ([("urine_rbc", "5", "/HPF", EARLIER, "--menstruating")], False),
        # a menstruating sample in between is skipped, not counted as clear
        (
            [("urine_rbc", "5", "/HPF", "2024-04-08"),
             ("urine_blood", "2+", None, EARLIER, "--menstruating")],
            True,
        ),
        # a clear urinalysis in between breaks the run
        ([("urine_rbc", "5", "/HPF", "2024-04-08"), ("urine_rbc", "1", "/HPF", EARLIER)], False),
    ],
)  # fmt: skip
def test_haematuria_at_two_consecutive_urinalyses_is_urgent(cli, patient, earlier, repeated):
    for sample in earlier:
        add(cli, *sample)

    add(cli, "urine_blood", "1+", None)

    assert (("urine.haematuria_repeated", URGENT) in found(cli)) is repeated


@pytest.mark.parametrize(
    ("value", "collected", "expected"),
    [
        ("4.5", DAY, {("tsh.out_of_range", REVIEW), ("tsh.pregnancy", URGENT)}),
        ("0.3", "2024-05-01", {("tsh.out_of_range", REVIEW), ("tsh.pregnancy", URGENT)}),
        ("0.3", "2025-01-31", {("tsh.out_of_range", REVIEW), ("tsh.pregnancy", URGENT)}),
        ("2.0", DAY, set()),  # a normal TSH in pregnancy raises nothing
        ("4.5", "2025-02-01", {("tsh.out_of_range", REVIEW)}),  # after the pregnancy
        ("4.5", "2024-04-30", {("tsh.out_of_range", REVIEW)}),  # before it
    ],
)
def test_an_abnormal_tsh_during_a_pregnancy_is_urgent(cli, patient, value, collected, expected):
    cli.ok("patient", "pregnancy", MRN, "--from", "2024-05-01", "--to", "2025-01-31")

    add(cli, "tsh", value, "mIU/L", collected)

    assert found(cli) == expected


def test_an_open_ended_pregnancy_covers_every_later_tsh(cli, patient):
    cli.ok("patient", "pregnancy", MRN, "--from", "2024-05-01")
    add(cli, "tsh", "0.35", "mIU/L", "2025-03-03")

    assert ("tsh.pregnancy", URGENT) in found(cli)


def test_a_pregnancy_ending_before_it_starts_is_refused(cli, patient):
    result = cli("patient", "pregnancy", MRN, "--from", "2024-05-01", "--to", "2024-04-01")

    assert result.code == 2
    assert "--to" in result.err


@pytest.mark.parametrize(
    ("alt", "bilirubin", "expected_emergency"),
    [
        ("121", "2.5", True),  # bilirubin 42.75 umol/L > 2 x 21
        ("121", "2.4", False),  # 41.04 umol/L
        ("120", "3.0", False),  # ALT not above 3 x ULN
    ],
)
def test_alt_above_3_x_uln_with_same_day_bilirubin_above_2_x_uln_is_an_emergency(
    cli, patient, alt, bilirubin, expected_emergency
):
    add(cli, "bilirubin", bilirubin, "mg/dL")
    add(cli, "alt", alt, "U/L")

    liver = found(cli, "alt")
    assert (("alt.with_bilirubin", EMERGENCY) in liver) is expected_emergency


def test_bilirubin_arriving_after_the_ast_raises_a_new_emergency_on_the_ast(cli, patient):
    add(cli, "ast", "150", "U/L")
    assert found(cli) == {("ast.above_range", URGENT)}

    add(cli, "bilirubin", "50", "umol/L")

    (emergency,) = [f for f in flags(cli) if f["severity"] == EMERGENCY]
    assert (emergency["analyte"], emergency["rule"]) == ("ast", "ast.with_bilirubin")
    assert emergency["value"] == 150


def test_the_bilirubin_half_of_the_liver_emergency_uses_the_lab_sent_uln(cli, patient):
    add(cli, "alt", "121", "U/L")
    add(cli, "bilirubin", "1.0", "mg/dL", DAY, "--ref-high", "0.4")  # 17.1 > 2 x 6.84 umol/L

    assert ("alt.with_bilirubin", EMERGENCY) in found(cli, "alt")


def test_bilirubin_on_another_day_does_not_make_an_alt_an_emergency(cli, patient):
    add(cli, "alt", "150", "U/L")
    add(cli, "bilirubin", "50", "umol/L", "2024-06-11")

    assert EMERGENCY not in {f["severity"] for f in flags(cli)}


@pytest.mark.parametrize(
    ("value", "collected", "severity", "annotated"),
    [
        ("60", "2024-01-10", REVIEW, True),  # during the course: urgent capped at review
        ("120", "2024-01-12", REVIEW, True),
        ("60", "2024-01-19", REVIEW, True),  # 7 days after the last infusion, included
        ("49", "2024-01-15", EMERGENCY, True),  # < 50 is never capped
        ("60", "2024-01-20", URGENT, False),  # day 8: no longer the expected dip
        ("60", "2024-01-07", URGENT, False),  # before the course
        ("60", "2025-01-20", REVIEW, True),  # 7 days after course 2 (2025-01-13..15)
        ("60", "2025-01-23", URGENT, False),
    ],
)
def test_a_platelet_flag_in_the_post_infusion_dip_is_annotated_and_capped_at_review(
    cli, patient, value, collected, severity, annotated
):
    cli.ok("course", "add", MRN, "--start", "2025-01-13", "--days", "3")
    add(cli, "platelets", value, "K/uL", collected)

    (flag,) = flags(cli)
    assert flag["severity"] == severity
    assert ("expected post-infusion dip" in flag["message"].lower()) is annotated


# --- flags --json, flags, flag ack -------------------------------------------------------------

FLAG_KEYS = {"id", "mrn", "analyte", "severity", "value", "unit", "collected_on", "rule", "status"}


def test_flags_json_has_the_spec_keys_with_value_and_unit_as_received(cli, patient):
    add(cli, "platelets", "99000", "/uL")
    add(cli, "urine_protein", "2+", "ordinal", EARLIER)

    platelets, protein = flags(cli)  # most severe first

    for flag in (platelets, protein):
        assert FLAG_KEYS <= flag.keys()
        assert isinstance(flag["id"], int)
        assert flag["mrn"] == MRN
        assert flag["status"] == "open"
    assert platelets == platelets | {
        "analyte": "platelets",
        "severity": URGENT,
        "value": 99000,
        "unit": "/uL",
        "collected_on": DAY,
        "rule": "platelets.low",
    }
    assert isinstance(platelets["value"], int | float)
    assert platelets["canonical_value"] == pytest.approx(99.0)
    assert protein == protein | {
        "analyte": "urine_protein",
        "severity": REVIEW,
        "value": "2+",
        "unit": "ordinal",
        "collected_on": EARLIER,
        "rule": "urine_protein.positive",
    }


def test_flags_lists_the_most_severe_first(cli, patient):
    add(cli, "platelets", "140", "K/uL")
    add(cli, "platelets", "40", "K/uL", EARLIER)
    add(cli, "tsh", "0.05", "mIU/L")

    assert [f["severity"] for f in flags(cli)] == [EMERGENCY, URGENT, REVIEW]


def test_one_result_raises_one_flag_per_rule_that_fires(cli, patient):
    add(cli, "platelets", "300", "K/uL", EARLIER)
    add(cli, "platelets", "90", "K/uL")

    latest = [f for f in flags(cli) if f["collected_on"] == DAY]
    assert {(f["rule"], f["severity"]) for f in latest} == {
        ("platelets.low", URGENT),
        ("platelets.fall", REVIEW),
    }


def test_the_flag_list_shows_one_row_per_result_with_every_rule_that_fired(cli, patient):
    add(cli, "platelets", "300", "K/uL", EARLIER)
    add(cli, "platelets", "90", "K/uL")
    add(cli, "tsh", "5", "mIU/L")
    rows = flags(cli)
    platelet_rows = [f for f in rows if f["analyte"] == "platelets"]
    (tsh_row,) = [f for f in rows if f["analyte"] == "tsh"]

    table = cli.ok("flags")

    assert len(platelet_rows) == 2, "--json keeps one row per flag (SPEC §7)"
    assert len({f["result_id"] for f in platelet_rows}) == 1
    assert tsh_row["result_id"] != platelet_rows[0]["result_id"]
    assert "2 flagged result(s)" in table
    platelet_line = next(line for line in table.splitlines() if "platelets" in line)
    shown_ids = platelet_line.split("│")[1].strip()
    assert sorted(shown_ids.split(", ")) == sorted(str(f["id"]) for f in platelet_rows)
    assert "urgent" in platelet_line and "platelets" in platelet_line
    assert table.count("platelets") == 1, "one row for the result, not one per rule"
    assert table.count("review:") == 2 and "urgent:" in table, "every rule, with its severity"


def test_acknowledging_one_flag_of_a_result_acknowledges_the_row_each_flag_audited(cli, patient):
    add(cli, "platelets", "300", "K/uL", EARLIER)
    add(cli, "platelets", "90", "K/uL")
    add(cli, "tsh", "5", "mIU/L")
    platelet_rows = [f for f in flags(cli) if f["analyte"] == "platelets"]
    rows_before = audit(cli)

    out = cli.ok("flag", "ack", str(platelet_rows[0]["id"]), "--by", "Nurse Jo", "--note", "seen")

    assert "(one result) acknowledged by Nurse Jo" in out
    assert [f["analyte"] for f in flags(cli)] == ["tsh"]
    new_rows = audit(cli)[len(rows_before) :]
    assert sorted(r["entity_id"] for r in new_rows) == sorted(f["id"] for f in platelet_rows)
    assert {(r["action"], r["actor"]) for r in new_rows} == {("flag.acknowledge", "Nurse Jo")}
    assert all(r["after"] == {"status": "acknowledged", "note": "seen"} for r in new_rows)


def test_flags_shows_open_flags_and_flags_all_also_acknowledged_ones(cli, patient):
    add(cli, "platelets", "90", "K/uL")
    add(cli, "tsh", "5", "mIU/L")
    platelet_flag, tsh_flag = flags(cli)

    cli.ok("flag", "ack", str(platelet_flag["id"]), "--by", "Nurse Jo", "--note", "repeat booked")

    assert [f["id"] for f in flags(cli)] == [tsh_flag["id"]]
    everything = {f["id"]: f for f in flags(cli, "--all")}
    assert set(everything) == {platelet_flag["id"], tsh_flag["id"]}
    assert everything[platelet_flag["id"]]["status"] == "acknowledged"
    assert everything[tsh_flag["id"]]["status"] == "open"
    table = cli.ok("flags")
    assert "tsh" in table
    assert "platelets" not in table


def test_flags_says_when_nothing_is_open(cli, patient):
    add(cli, "platelets", "250", "K/uL")

    assert flags(cli) == []
    assert "no open flags" in cli.ok("flags")


def test_acknowledging_a_flag_writes_an_audit_row_with_before_and_after(cli, patient):
    add(cli, "neutrophils", "0.8", "K/uL")
    (flag,) = flags(cli)
    rows_before = audit(cli)

    out = cli.ok("flag", "ack", str(flag["id"]), "--by", "Nurse Jo", "--note", "GP informed")

    assert "acknowledged" in out
    (row,) = audit(cli)[len(rows_before) :]
    assert row["actor"] == "Nurse Jo"
    assert row["action"] == "flag.acknowledge"
    assert row["entity"] == "flag"
    assert row["entity_id"] == flag["id"]
    assert row["before"] == {"status": "open"}
    assert row["after"] == {"status": "acknowledged", "note": "GP informed"}
    (acked,) = flags(cli, "--all")
    assert acked["acknowledged_by"] == "Nurse Jo"


def test_acknowledging_a_flag_twice_is_refused_and_writes_nothing(cli, patient):
    add(cli, "neutrophils", "0.8", "K/uL")
    (flag,) = flags(cli)
    cli.ok("flag", "ack", str(flag["id"]), "--by", "Nurse Jo")
    rows = audit(cli)

    again = cli("flag", "ack", str(flag["id"]), "--by", "Nurse Kim", "--note", "me too")

    assert again.code == 2
    assert f"flag {flag['id']} is already acknowledged" in again.err
    assert audit(cli) == rows
    (still,) = flags(cli, "--all")
    assert still["acknowledged_by"] == "Nurse Jo"


@pytest.mark.parametrize("flag_id", ["999", "0"])
def test_acknowledging_an_unknown_flag_id_exits_2(cli, patient, flag_id):
    result = cli("flag", "ack", flag_id, "--by", "Nurse Jo")

    assert result.code == 2
    assert f"unknown flag id {flag_id}" in result.err


def test_acknowledging_needs_a_name(cli, patient):
    add(cli, "neutrophils", "0.8", "K/uL")
    (flag,) = flags(cli)

    result = cli("flag", "ack", str(flag["id"]), "--by", "  ")

    assert result.code == 2
    assert flags(cli)[0]["status"] == "open"


# --- slot waive -------------------------------------------------------------------------------

# Course 1 ends 2024-01-12: the first monthly cbc is due 2024-02-12, window 02-05..02-19.
AFTER_FIRST_MONTH = "2024-02-25"


def test_a_waived_slot_leaves_the_overdue_list_and_shows_waived_in_the_schedule(cli, patient):
    assert ("cbc", "2024-02-12") in {
        (r["panel"], r["due_on"]) for r in overdue(cli, AFTER_FIRST_MONTH)
    }

    out = cli.ok(
        "slot", "waive", MRN, "--panel", "cbc", "--due", "2024-02-12",
        "--by", "Nurse Jo", "--reason", "in hospital, counts done there",
    )  # fmt: skip

    assert "waived" in out
    listed = {(r["panel"], r["due_on"]) for r in overdue(cli, AFTER_FIRST_MONTH)}
    assert ("cbc", "2024-02-12") not in listed
    assert ("creatinine", "2024-02-12") in listed  # only that panel's slot is waived
    by_key = {(s["panel"], s["due_on"]): s["status"] for s in slots(cli, AFTER_FIRST_MONTH)}
    assert by_key[("cbc", "2024-02-12")] == "waived"
    assert by_key[("cbc", "2024-03-12")] == "upcoming"
    # a month later the waived slot is not counted among the missed ones either
    missed = {r["panel"]: r["missed"] for r in overdue(cli, "2024-03-25")}
    assert (missed["cbc"], missed["creatinine"]) == (1, 2)  # baseline only / baseline + Feb


def test_a_waiver_is_audited(cli, patient):
    cli.ok(
        "slot", "waive", MRN, "--panel", "tsh", "--due", "2024-04-12",
        "--by", "Nurse Jo", "--reason", "done at the GP",
    )  # fmt: skip

    row = audit(cli)[-1]
    assert row["actor"] == "Nurse Jo"
    assert row["action"] == "slot.waive"
    assert row["before"]["waived"] is False
    assert row["after"] == {
        "protocol": "alemtuzumab",
        "panel": "tsh",
        "due_on": "2024-04-12",
        "waived": True,
        "reason": "done at the GP",
    }


@pytest.mark.parametrize(
    ("panel", "due", "message"),
    [
        ("cbc", "2024-02-13", "no cbc slot due on 2024-02-13"),
        ("tsh", "2024-03-12", "no tsh slot due on 2024-03-12"),  # tsh is every 3 months
        ("platelets", "2024-02-12", "no platelets slot"),  # an analyte, not a panel
    ],
)
def test_waiving_a_date_that_is_not_a_slot_exits_2_and_writes_nothing(
    cli, patient, panel, due, message
):
    rows = audit(cli)

    result = cli(
        "slot", "waive", MRN, "--panel", panel, "--due", due, "--by", "Nurse Jo", "--reason", "x"
    )

    assert result.code == 2
    assert message in result.err
    assert audit(cli) == rows


def test_waiving_a_slot_twice_or_for_an_unknown_patient_exits_2(cli, patient):
    args = ["--panel", "cbc", "--due", "2024-02-12", "--by", "Nurse Jo", "--reason", "x"]
    cli.ok("slot", "waive", MRN, *args)

    assert cli("slot", "waive", MRN, *args).code == 2
    assert cli("slot", "waive", "NOPE", *args).code == 2


# --- patient status ---------------------------------------------------------------------------


def test_withdrawing_a_patient_cancels_slots_due_from_that_date_and_is_audited(cli, patient):
    cli.ok("patient", "status", MRN, "withdrawn", "--on", "2024-03-12", "--reason", "moved away")

    statuses = {(s["panel"], s["due_on"]): s["status"] for s in slots(cli, "2024-02-25")}
    assert statuses[("cbc", "2024-02-12")] == "overdue"
    assert statuses[("cbc", "2024-03-12")] == "cancelled"  # due on the stop date
    assert statuses[("tsh", "2024-04-12")] == "cancelled"
    later = [s for s in slots(cli, "2024-02-25") if s["due_on"] >= "2024-03-12"]
    assert later
    assert {s["status"] for s in later} == {"cancelled"}

    row = audit(cli)[-1]
    assert row["action"] == "patient.status"
    assert row["actor"]
    assert row["before"] == {"status": "active", "status_on": None, "reason": None}
    assert row["after"] == {
        "status": "withdrawn",
        "status_on": "2024-03-12",
        "reason": "moved away",
    }


def test_a_withdrawn_patient_leaves_the_overdue_list_from_the_stop_date(cli, patient):
    cli.ok("patient", "status", MRN, "withdrawn", "--on", "2024-03-01")

    assert {r["mrn"] for r in overdue(cli, "2024-02-29")} == {MRN}
    assert overdue(cli, "2024-03-01") == []
    assert overdue(cli, "2024-06-01") == []


def test_an_unknown_status_exits_2_and_writes_nothing(cli, patient):
    rows = audit(cli)

    result = cli("patient", "status", MRN, "retired", "--on", "2024-03-01")

    assert result.code == 2
    assert "retired" in result.err
    assert audit(cli) == rows


# --- what the nurses see: overdue open_alert and patient show open_flags -----------------------


def test_overdue_carries_the_most_serious_open_alert_of_each_patient(cli, patient):
    new_patient(cli, "B2")
    cli.ok("result", "add", "B2", "--analyte", "platelets", "--value", "140", "--unit", "K/uL",
           "--collected", "2024-02-20")  # fmt: skip
    add(cli, "tsh", "0.05", "mIU/L", "2024-02-20")  # urgent

    def alerts() -> dict[str, str | None]:
        return {row["mrn"]: row["open_alert"] for row in overdue(cli, AFTER_FIRST_MONTH)}

    assert alerts() == {MRN: URGENT, "B2": None}  # a review flag is not an alert

    add(cli, "neutrophils", "0.3", "K/uL", "2024-02-21")
    assert alerts()[MRN] == EMERGENCY

    for flag in flags(cli):
        if flag["mrn"] == MRN:
            cli.ok("flag", "ack", str(flag["id"]), "--by", "Nurse Jo")
    assert alerts() == {MRN: None, "B2": None}


def test_patient_show_lists_the_patients_open_flags(cli, patient):
    new_patient(cli, "B2")
    add(cli, "tsh", "0.05", "mIU/L")
    add(cli, "skin_exam", "abnormal", None)

    shown = json.loads(cli.ok("patient", "show", MRN, "--json"))
    assert {(f["rule"], f["severity"]) for f in shown["open_flags"]} == {
        ("tsh.out_of_range", URGENT),
        ("skin_exam.abnormal", REVIEW),
    }
    assert all(isinstance(f["id"], int) for f in shown["open_flags"])
    assert json.loads(cli.ok("patient", "show", "B2", "--json"))["open_flags"] == []

    for flag in shown["open_flags"]:
        cli.ok("flag", "ack", str(flag["id"]), "--by", "Nurse Jo")
    assert json.loads(cli.ok("patient", "show", MRN, "--json"))["open_flags"] == []
