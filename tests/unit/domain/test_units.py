"""Units and validation of received values (SPEC §4 table, §9 UCUM codes and ordinals)."""

from __future__ import annotations

import pytest

from monitor.domain.units import ANALYTES, canonical_unit, measure
from monitor.errors import InvalidInput

MICRO = "\u00b5"  # MICRO SIGN
MU = "\u03bc"  # GREEK SMALL LETTER MU
CELL_COUNTS = ("platelets", "neutrophils", "lymphocytes", "wbc")


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [
        ("platelets", "10^9/L"),
        ("neutrophils", "10^9/L"),
        ("lymphocytes", "10^9/L"),
        ("wbc", "10^9/L"),
        ("hemoglobin", "g/L"),
        ("creatinine", "umol/L"),
        ("bilirubin", "umol/L"),
        ("alt", "U/L"),
        ("ast", "U/L"),
        ("tsh", "mIU/L"),
        ("free_t4", "pmol/L"),
        ("upcr", "mg/mmol"),
        ("urine_rbc", "/HPF"),
        ("urine_protein", "ordinal"),
        ("urine_blood", "ordinal"),
        ("skin_exam", "ordinal"),
    ],
)
def test_canonical_unit_per_analyte(analyte: str, unit: str) -> None:
    assert canonical_unit(analyte) == unit


def test_every_spec_analyte_is_known() -> None:
    assert set(ANALYTES) == {
        "platelets",
        "neutrophils",
        "lymphocytes",
        "wbc",
        "hemoglobin",
        "creatinine",
        "urine_rbc",
        "urine_protein",
        "urine_blood",
        "upcr",
        "tsh",
        "free_t4",
        "alt",
        "ast",
        "bilirubin",
        "skin_exam",
    }


@pytest.mark.parametrize("analyte", CELL_COUNTS)
@pytest.mark.parametrize(
    ("value", "unit", "canonical"),
    [
        ("150", "10^9/L", 150.0),
        ("150", "10*9/L", 150.0),  # UCUM
        ("150", "x10E9/L", 150.0),
        ("150", "10^3/uL", 150.0),
        ("150", "10*3/uL", 150.0),  # UCUM
        ("150", "K/uL", 150.0),
        ("150", "x10E3/uL", 150.0),
        ("150", f"10^3/{MICRO}L", 150.0),
        ("150", f"10^3/{MU}L", 150.0),
        ("150000", "/uL", 150.0),
        ("150000", "cells/uL", 150.0),
        ("1500", f"cells/{MICRO}L", 1.5),
        ("1500", f"/{MU}L", 1.5),
    ],
)
def test_cell_counts_convert_to_10_9_per_litre(
    analyte: str, value: str, unit: str, canonical: float
) -> None:
    measured = measure(analyte, value, unit)
    assert measured.canonical_value == pytest.approx(canonical)
    assert measured.canonical_unit == "10^9/L"


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "canonical"),
    [
        ("hemoglobin", "130", "g/L", 130.0),
        ("hemoglobin", "13", "g/dL", 130.0),
        ("hemoglobin", "8", "mmol/L", 128.88),
        ("creatinine", "97", "umol/L", 97.0),
        ("creatinine", "97", f"{MICRO}mol/L", 97.0),
        ("creatinine", "97", f"{MU}mol/L", 97.0),
        ("creatinine", "1.1", "mg/dL", 97.24),
        ("creatinine", "1", "mg/dL", 88.4),
        ("bilirubin", "21", "umol/L", 21.0),
        ("bilirubin", "21", f"{MICRO}mol/L", 21.0),
        ("bilirubin", "1", "mg/dL", 17.1),
        ("bilirubin", "2", "mg/dL", 34.2),
        ("alt", "40", "U/L", 40.0),
        ("alt", "40", "IU/L", 40.0),
        ("alt", "40", "[IU]/L", 40.0),
        ("ast", "41", "U/L", 41.0),
        ("ast", "41", "IU/L", 41.0),
        ("ast", "41", "[IU]/L", 41.0),
        ("tsh", "2.5", "mIU/L", 2.5),
        ("tsh", "2.5", "uIU/mL", 2.5),
        ("tsh", "2.5", f"{MICRO}IU/mL", 2.5),
        ("tsh", "2.5", f"{MU}IU/mL", 2.5),
        ("tsh", "2.5", "mU/L", 2.5),
        ("tsh", "2.5", "m[IU]/L", 2.5),
        ("tsh", "2.5", "u[IU]/mL", 2.5),
        ("free_t4", "15", "pmol/L", 15.0),
        ("free_t4", "1", "ng/dL", 12.87),
        ("free_t4", "1.2", "ng/dL", 15.444),
        ("upcr", "30", "mg/mmol", 30.0),
        ("upcr", "265.2", "mg/g", 30.0),
        ("upcr", "8.84", "mg/g", 1.0),
        ("urine_rbc", "3", "/HPF", 3.0),
        ("urine_rbc", "3", "cells/HPF", 3.0),
        ("urine_rbc", "3", "/[HPF]", 3.0),
    ],
)
def test_spec_table_conversions(analyte: str, value: str, unit: str, canonical: float) -> None:
    assert measure(analyte, value, unit).canonical_value == pytest.approx(canonical)


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [
        ("platelets", "10*9/L"),
        ("platelets", "10*3/uL"),
        ("hemoglobin", "g/L"),
        ("hemoglobin", "g/dL"),
        ("creatinine", "umol/L"),
        ("creatinine", "mg/dL"),
        ("bilirubin", "umol/L"),
        ("bilirubin", "mg/dL"),
        ("alt", "U/L"),
        ("alt", "[IU]/L"),
        ("tsh", "m[IU]/L"),
        ("tsh", "u[IU]/mL"),
        ("free_t4", "pmol/L"),
        ("free_t4", "ng/dL"),
        ("upcr", "mg/mmol"),
        ("upcr", "mg/g"),
        ("urine_rbc", "/[HPF]"),
    ],
)
def test_ucum_codes_are_accepted(analyte: str, unit: str) -> None:
    assert measure(analyte, "1", unit).canonical_value is not None


def test_value_and_unit_are_kept_as_received() -> None:
    measured = measure("creatinine", " 1.1 ", "mg/dL")
    assert (measured.analyte, measured.value, measured.unit) == ("creatinine", "1.1", "mg/dL")
    assert measured.canonical_unit == "umol/L"
    assert measured.ordinal is None
    assert measured.rank is None


def test_zero_is_a_possible_value() -> None:
    assert measure("urine_rbc", "0", "/HPF").canonical_value == 0.0


# --- ordinals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("analyte", ["urine_protein", "urine_blood"])
@pytest.mark.parametrize("unit", [None, "", "ordinal"])
@pytest.mark.parametrize(
    ("value", "rank"),
    [("negative", 0), ("trace", 1), ("1+", 2), ("2+", 3), ("3+", 4), ("4+", 5)],
)
def test_urine_dipstick_ordinals(analyte: str, unit: str | None, value: str, rank: int) -> None:
    measured = measure(analyte, value, unit)
    assert measured.ordinal == value
    assert measured.rank == rank
    assert measured.canonical_value is None
    assert measured.canonical_unit == "ordinal"


@pytest.mark.parametrize(("value", "rank"), [("normal", 0), ("abnormal", 1), ("Abnormal", 1)])
def test_skin_exam_ordinals(value: str, rank: int) -> None:
    measured = measure("skin_exam", value, None)
    assert measured.ordinal == value.lower()
    assert measured.rank == rank


def test_an_ordinal_with_a_measurement_unit_is_refused() -> None:
    with pytest.raises(InvalidInput, match="takes no unit") as caught:
        measure("urine_protein", "1+", "mg/dL")
    assert "urine_protein" in str(caught.value)
    assert "mg/dL" in str(caught.value)


@pytest.mark.parametrize(
    ("analyte", "value"),
    [("urine_protein", "5+"), ("urine_blood", "lots"), ("skin_exam", "rash"), ("skin_exam", "1")],
)
def test_a_word_outside_the_ordinal_scale_is_refused(analyte: str, value: str) -> None:
    with pytest.raises(InvalidInput, match="is not one of") as caught:
        measure(analyte, value, None)
    assert repr(value) in str(caught.value)
    assert analyte in str(caught.value)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "problem"),
    [
        ("potassium", "4.1", "mmol/L", "unknown analyte 'potassium'"),
        ("Platelets", "150", "10^9/L", "unknown analyte 'Platelets'"),
        ("creatinine", "97", None, "missing unit for creatinine"),
        ("creatinine", "97", "", "missing unit for creatinine"),
        ("creatinine", "97", "   ", "missing unit for creatinine"),
        ("creatinine", "97", "mmol/L", "unknown unit 'mmol/L' for creatinine"),
        ("tsh", "2.5", "mIU/mL", "unknown unit 'mIU/mL' for tsh"),
        ("platelets", "150", "10^6/L", "unknown unit '10^6/L' for platelets"),
        ("hemoglobin", "13", "mg/dL", "unknown unit 'mg/dL' for hemoglobin"),
        ("creatinine", "abc", "umol/L", "value 'abc' for creatinine is not a number"),
        ("creatinine", "", "umol/L", "is not a number"),
        ("creatinine", "1,1", "mg/dL", "value '1,1' for creatinine is not a number"),
        ("creatinine", "<5", "umol/L", "value '<5' for creatinine is not a number"),
        ("creatinine", "nan", "umol/L", "value 'nan' for creatinine is not a finite number"),
        ("creatinine", "NaN", "umol/L", "is not a finite number"),
        ("creatinine", "inf", "umol/L", "value 'inf' for creatinine is not a finite number"),
        ("creatinine", "-inf", "umol/L", "is not a finite number"),
        ("creatinine", "1e400", "umol/L", "is not a finite number"),
        ("platelets", "-1", "10^9/L", "value '-1' for platelets is negative"),
        ("tsh", "-0.01", "mIU/L", "value '-0.01' for tsh is negative"),
    ],
)
def test_invalid_input_names_the_problem(
    analyte: str, value: str, unit: str | None, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        measure(analyte, value, unit)
    assert problem in str(caught.value)


def test_unknown_unit_message_lists_the_canonical_unit() -> None:
    with pytest.raises(InvalidInput) as caught:
        measure("creatinine", "97", "mmol/L")
    assert "canonical umol/L" in str(caught.value)


def test_canonical_unit_of_an_unknown_analyte_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown analyte"):
        canonical_unit("sodium")


@pytest.mark.parametrize("value", ["1_5", "\u0661\u0662\u0663", "0x10", "1.2.3", "", " "])
def test_only_plain_decimal_numbers_are_values(value: str) -> None:
    with pytest.raises(InvalidInput, match="is not a number"):
        measure("platelets", value, "10^9/L")
