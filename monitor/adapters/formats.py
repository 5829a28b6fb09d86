"""One entry point for the three file formats: guess the format, pick the parser."""

from __future__ import annotations

from monitor.adapters.csv_results import looks_like_csv, parse_csv
from monitor.adapters.fhir import FhirOptions, parse_fhir
from monitor.adapters.hl7 import Hl7Options, parse_hl7
from monitor.config import Config
from monitor.services.incoming import Parsed, Problem

FORMATS = ("csv", "hl7", "fhir")


def guess_format(text: str) -> str | None:
    """HL7 starts with MSH (or a batch header), FHIR JSON with "{", CSV with our header."""
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith(("MSH", "FHS", "BHS")):
        return "hl7"
    if start.startswith("{"):
        return "fhir"
    if looks_like_csv(start):
        return "csv"
    return None


def parse_text(text: str, fmt: str | None, config: Config, *, source: str | None) -> list[Parsed]:
    """Every parsed item of one document; unrecognisable text is one whole-document Problem."""
    fmt = fmt or guess_format(text)
    zone = config.clinic.timezone
    if fmt == "hl7":
        hl7 = config.hl7
        options = Hl7Options(zone, source, hl7.identifier_type, hl7.assigning_authority)
        return parse_hl7(text, options)
    if fmt == "fhir":
        return parse_fhir(text, FhirOptions(zone, source, config.hl7.identifier_type))
    if fmt == "csv":
        return parse_csv(text, source=source)
    reason = "not recognisable as HL7 v2, FHIR JSON or results CSV"
    return [Problem(reason, source or "unknown", "unknown", text, whole_message=True)]
