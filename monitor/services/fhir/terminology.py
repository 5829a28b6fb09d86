"""The code systems the API speaks: LOINC for analytes (from the clinic's code map), UCUM for
the canonical units, and the monitor's own URNs where no standard code exists.

The LOINC code of an analyte is the one the lab sent when the code map knows it for that
analyte (creatinine by 14682-9 stays 14682-9), else the first code the code map gives the
analyte (`domain.codes.DEFAULT_LOINC` and `[codes.loinc]`, clinical.md §4). An analyte with
no LOINC code (skin_exam) is coded in `ANALYTE_SYSTEM` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.domain.codes import CodeMap

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"  # adapters.fhir_values reads it from here
MRN_SYSTEM = "urn:monitor:mrn"
ANALYTE_SYSTEM = "urn:monitor:analyte"
PANEL_SYSTEM = "urn:monitor:panel"
SLOT_SYSTEM = "urn:monitor:slot"
SLOT_STATUS_SYSTEM = "urn:monitor:slot-status"
FLAG_RULE_SYSTEM = "urn:monitor:flag-rule"
FLAG_SEVERITY_SYSTEM = "urn:monitor:flag-severity"
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# SPEC §4's canonical units in UCUM (case-sensitive codes); a clinic's own analyte whose unit
# is not here gets a Quantity with the unit's text only, never a guessed code.
UCUM_CODES: dict[str, str] = {
    "10^9/L": "10*9/L",
    "g/L": "g/L",
    "umol/L": "umol/L",
    "U/L": "U/L",
    "mIU/L": "m[IU]/L",
    "pmol/L": "pmol/L",
    "mg/mmol": "mg/mmol",
    "/HPF": "/[HPF]",
}


def loinc_codes(code_map: CodeMap) -> dict[str, str]:
    """analyte -> its first LOINC code in the code map."""
    found: dict[str, str] = {}
    for code, analyte in code_map.loinc.items():
        found.setdefault(analyte, code)
    return found


def loinc_of(analyte: str, sent: str | None, code_map: CodeMap, first: Mapping[str, str]) -> str:
    """The LOINC code for a stored result ("" when the analyte has none)."""
    if sent and code_map.loinc.get(sent.strip()) == analyte:
        return sent.strip()
    return first.get(analyte, "")
