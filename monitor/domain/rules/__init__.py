"""The pure safety-rules engine: abnormal-result flags (SPEC §4, §9 "Results and flags").

Give `evaluate` a newly stored result, the patient's other results and context, and get back the
findings to store as flags. Thresholds live in `RuleSettings`; see settings.py for the field
names, which are also the keys of the `[rules.<analyte>]` config tables.
"""

from .engine import RULES, analytes_read, evaluate
from .model import Finding, PatientContext, ResultFact, Severity, highest
from .protocols import evaluate_for_protocols
from .settings import (
    DEFAULT_SETTINGS,
    BilirubinSettings,
    CreatinineSettings,
    HemoglobinSettings,
    LiverEnzymeSettings,
    LymphocyteSettings,
    NeutrophilSettings,
    PlateletSettings,
    RuleSettings,
    TshSettings,
    UrineRbcSettings,
    protocol_rule_settings,
    rule_settings_from_mapping,
    rule_settings_to_mapping,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "RULES",
    "BilirubinSettings",
    "CreatinineSettings",
    "Finding",
    "HemoglobinSettings",
    "LiverEnzymeSettings",
    "LymphocyteSettings",
    "NeutrophilSettings",
    "PatientContext",
    "PlateletSettings",
    "ResultFact",
    "RuleSettings",
    "Severity",
    "TshSettings",
    "UrineRbcSettings",
    "analytes_read",
    "evaluate",
    "evaluate_for_protocols",
    "highest",
    "protocol_rule_settings",
    "rule_settings_from_mapping",
    "rule_settings_to_mapping",
]
