"""One entry point for the three file formats: guess the format, pick the parser."""

from __future__ import annotations

from monitor.adapters import limits
from monitor.adapters.csv_results import looks_like_csv, parse_csv
from monitor.adapters.fhir import FhirOptions, parse_fhir
from monitor.adapters.hl7 import Hl7Options, parse_hl7
from monitor.config import Config
from monitor.services.results.incoming import Parsed, Problem

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


def oversized_file(head: str, size: int, fmt: str | None, *, source: str | None) -> list[Parsed]:
    """A file over `limits.MAX_FILE_BYTES`, not read beyond `head`: one whole-file Problem whose
    raw text is the first line alone (enough to tell which file it was; a retry cannot take in
    part of a file it never read)."""
    first = head.lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    first = first[: limits.MAX_CONTEXT_SEGMENT_CHARS]
    kind = fmt or guess_format(head) or "unknown"
    reason = limits.too_long("the file", size, limits.MAX_FILE_BYTES, "bytes")
    return [Problem(reason, source or kind, kind, first, whole_message=True)]
