"""`[analytes.<name>]` (SPEC §10.1): analytes beyond SPEC §2, their units, scales and codes."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.domain.analytes import build_analytes, catalogue_with
from monitor.domain.codes import Code, CodeMap
from monitor.domain.tables import ProtocolError
from monitor.domain.units import DEFAULT_CATALOGUE, measure, unit_factor
from monitor.errors import InvalidInput

JCV_AND_IGG = {
    "jcv_index": {"unit": "index", "loinc": ["99999-9"]},
    "igg": {"unit": "g/L", "units": {"mg/dL": 0.01, "G/L": 1}},
    "eye_exam": {"ordinal": ["normal", "abnormal"]},
}
CATALOGUE = catalogue_with(build_analytes(JCV_AND_IGG))


def test_an_added_analyte_converts_to_its_canonical_unit() -> None:
    assert measure("igg", "850", "mg/dL", CATALOGUE).canonical_value == pytest.approx(8.5)
    assert measure("igg", "8.5", "g/l", CATALOGUE).canonical_unit == "g/L"
    assert measure("jcv_index", "0.42", "INDEX", CATALOGUE).canonical_value == pytest.approx(0.42)
    assert unit_factor("igg", "mg/dl", CATALOGUE) == pytest.approx(0.01)


def test_an_added_ordinal_analyte_takes_its_own_words() -> None:
    m = measure("eye_exam", "Abnormal", None, CATALOGUE)
    assert (m.ordinal, m.rank, m.canonical_unit) == ("abnormal", 1, "ordinal")
    with pytest.raises(InvalidInput, match="not one of: normal, abnormal"):
        measure("eye_exam", "trace", None, CATALOGUE)


def test_spec_analytes_keep_their_units_and_unknown_ones_stay_unknown() -> None:
    assert measure("creatinine", "1", "mg/dL", CATALOGUE).canonical_value == pytest.approx(88.4)
    with pytest.raises(InvalidInput, match="unknown unit 'mmol/L' for igg"):
        measure("igg", "8", "mmol/L", CATALOGUE)
    with pytest.raises(InvalidInput, match="unknown analyte 'igg'"):
        measure("igg", "8", "g/L")  # the default catalogue is SPEC §2's
    assert "igg" not in DEFAULT_CATALOGUE.names


def test_the_code_map_takes_the_added_names_and_codes() -> None:
    codes = CodeMap(loinc={"99999-9": "jcv_index"}, analytes=frozenset(CATALOGUE.names))
    assert codes.analyte_for([Code("LN", "99999-9")], "lab") == ("jcv_index", Code("LN", "99999-9"))
    assert codes.analyte_for([Code("analyte", "igg")], "lab") == ("igg", Code("analyte", "igg"))
    assert CodeMap().analyte_for([Code("analyte", "igg")], "lab") is None


@pytest.mark.parametrize(
    ("tables", "path", "problem"),
    [
        ({"jcv": {}}, "analytes.jcv", "exactly one of unit and ordinal"),
        ({"jcv": {"unit": "index", "ordinal": ["a", "b"]}}, "analytes.jcv", "exactly one"),
        ({"jcv": {"unit": "index", "scale": 1}}, "analytes.jcv.scale", "unknown key"),
        ({"JCV": {"unit": "index"}}, "analytes.JCV", "analyte name must be"),
        ({"platelets": {"unit": "g/L"}}, "analytes.platelets", "SPEC §2 analyte"),
        ({"jcv": {"unit": ""}}, "analytes.jcv.unit", "must be a unit"),
        ({"jcv": {"unit": 3}}, "analytes.jcv.unit", "must be a unit"),
        ({"jcv": {"unit": "ordinal"}}, "analytes.jcv.unit", "is not a unit"),
        ({"igg": {"unit": "g/L", "units": {"mg/dL": "0.01"}}}, "analytes.igg.units.'mg/dL'",
         "must be a number"),
        ({"igg": {"unit": "g/L", "units": {"mg/dL": 0}}}, "analytes.igg.units.'mg/dL'", "above 0"),
        ({"igg": {"unit": "g/L", "units": {"mg/dL": True}}}, "analytes.igg.units.'mg/dL'",
         "must be a number"),
        ({"igg": {"unit": "g/L", "units": {"g/l": 10}}}, "analytes.igg.units.'g/l'", "factor is 1"),
        ({"igg": {"unit": "g/L", "units": {"mg/dL": 0.01, "MG/DL": 0.01}}},
         "analytes.igg.units.'MG/DL'", "listed twice"),
        ({"eye": {"ordinal": ["normal"]}}, "analytes.eye.ordinal", "2-20 words"),
        ({"eye": {"ordinal": ["normal", "Bad"]}}, "analytes.eye.ordinal[1]", "lower-case word"),
        ({"eye": {"ordinal": ["a", "a"]}}, "analytes.eye.ordinal[1]", "listed twice"),
        ({"eye": {"ordinal": ["a", "b"], "units": {}}}, "analytes.eye.units", "takes no units"),
        ({"jcv": {"unit": "index", "loinc": ["JCV1"]}}, "analytes.jcv.loinc[0]", "LOINC code"),
        ({"jcv": {"unit": "index", "loinc": "1-1"}}, "analytes.jcv.loinc", "a list"),
        ({"jcv": "index"}, "analytes.jcv", "must be a table"),
    ],
)  # fmt: skip
def test_a_bad_table_names_its_key(tables: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        build_analytes(tables)
    assert raised.value.path == path
    assert problem in raised.value.problem


def test_two_analytes_cannot_share_a_loinc_code() -> None:
    tables = {"a": {"unit": "x", "loinc": ["1-1"]}, "b": {"unit": "y", "loinc": ["1-1"]}}
    with pytest.raises(ProtocolError, match=r"analytes\.b\.loinc: 1-1 already names a"):
        catalogue_with(build_analytes(tables))
