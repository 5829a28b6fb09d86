"""HL7 v2 ORU^R01 messages to parsed results, with the `hl7` package (tech.md §6.1).

Real feeds end segments with CR, LF or CRLF, start with a byte-order mark, mix Latin-1, and put
several messages in one file (samples/PROVENANCE.md), so the text is normalised and split on MSH
before `hl7.parse` sees it. One OBX becomes one item; an OBX that cannot be read becomes a
Problem whose raw text is a self-contained message (MSH, PID, OBR and that OBX), so a quarantine
retry can read it again on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import hl7

from monitor.adapters import limits
from monitor.adapters.hl7_fields import (
    LabTime,
    birth_of,
    codes_of,
    family_names,
    field,
    lab_time,
    patient_ids,
    reference_range,
    unit_of,
    value_of,
)
from monitor.domain.vocabulary import ResultStatus
from monitor.services.results.incoming import (
    Incoming,
    Parsed,
    Problem,
    Skipped,
    StatedPatient,
    stated_patient,
)

FORMAT = "hl7"

# HL7 table 0085 (observation result status).
_STATUSES = {
    "F": ResultStatus.FINAL,
    "U": ResultStatus.FINAL,
    "": ResultStatus.FINAL,
    "C": ResultStatus.CORRECTED,
    "P": ResultStatus.PRELIMINARY,
    "R": ResultStatus.PRELIMINARY,
    "S": ResultStatus.PRELIMINARY,
    "W": ResultStatus.ENTERED_IN_ERROR,
    "D": ResultStatus.ENTERED_IN_ERROR,
}
_NOT_RESULTS = {"X": "cannot be done", "N": "not asked", "I": "pending", "O": "order detail"}
_ENVELOPE = ("FHS", "BHS", "FTS", "BTS")


@dataclass(frozen=True)
class Hl7Options:
    """How to read a feed: the source name to use (else MSH-4, else MSH-3), the clinic's time
    zone for times without an offset, and the PID-3 narrowing from config `[hl7]`."""

    timezone: str
    source: str | None = None
    identifier_type: str | None = None
    assigning_authority: str | None = None


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else Latin-1, which every byte string decodes as."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_messages(text: str) -> list[str]:
    """Segments joined by CR, one string per MSH; batch envelopes (FHS/BHS) are dropped."""
    lines = [line for line in re.split(r"\r\n|\r|\n", text.lstrip("\ufeff")) if line.strip()]
    messages: list[list[str]] = []
    for line in lines:
        if line.startswith(_ENVELOPE):
            continue
        if line.startswith("MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return ["\r".join(segments) for segments in messages]


def parse_hl7(text: str, options: Hl7Options) -> list[Parsed]:
    """Every result of every message in `text`."""
    messages = split_messages(text)
    if not messages:
        return [_whole("empty: no HL7 message in the text", options.source or "hl7", text)]
    return [item for message in messages for item in parse_message(message, options)]


def parse_message(text: str, options: Hl7Options) -> list[Parsed]:
    """The results of one message; a message we cannot use at all is one whole-message Problem."""
    source = options.source or "hl7"
    if not text.startswith("MSH"):
        return [_whole("not an HL7 message: text before or without an MSH segment", source, text)]
    if reason := over_limits(text):
        return [_whole(reason, options.source or _header_source(text) or source, text)]
    try:
        message = hl7.parse(text)
        msh = message.segment("MSH")
        source = options.source or field(msh, 4) or field(msh, 3) or "hl7"
    except Exception as error:  # the hl7 package raises many kinds on junk
        return [_whole(f"not a readable HL7 message ({_short(error)})", source, text)]
    kind = f"{field(msh, 9)}^{field(msh, 9, component=2)}".strip("^")
    if field(msh, 9) != "ORU" or field(msh, 9, component=2) not in ("R01", ""):
        return [
            _whole(f"message type {kind or 'missing'} is not a lab result (ORU^R01)", source, text)
        ]
    return _results(message, options, source, text)


def over_limits(text: str) -> str | None:
    """Why a message is too large to take in (limits.py), or None. Checked on the raw segments
    before parsing, so a refusal costs one pass over the text."""
    obx = 0
    for number, segment in enumerate(text.split("\r"), start=1):
        name = segment[:3]
        if name == "OBX":
            obx += 1
        elif name in limits.CONTEXT_SEGMENTS and len(segment) > limits.MAX_CONTEXT_SEGMENT_CHARS:
            what = f"segment {number} ({name})"
            return limits.too_long(what, len(segment), limits.MAX_CONTEXT_SEGMENT_CHARS)
    if obx > limits.MAX_OBX_PER_MESSAGE:
        return limits.too_many("the message", obx, limits.MAX_OBX_PER_MESSAGE, "OBX segments")
    return None


def oversized_message(head: str, size: int, limit: int, options: Hl7Options) -> list[Parsed]:
    """An MLLP message over `[hl7] max_message_bytes`, of which only `head` was kept: one
    whole-message Problem whose raw text is the first segment alone (the MSH, for the ACK and
    for a person to tell the lab which message it was). A retry cannot take in part of it."""
    messages = split_messages(head)
    first = messages[0].split("\r", 1)[0][: limits.MAX_CONTEXT_SEGMENT_CHARS] if messages else ""
    source = options.source or (_header_source(first) if first.startswith("MSH") else "") or "hl7"
    reason = limits.too_long("the MLLP message", size, limit, "bytes")
    return [_whole(reason, source, first)]


def _header_source(text: str) -> str:
    """MSH-4, else MSH-3, read from the first segment alone ("" when it cannot be read)."""
    try:
        msh = hl7.parse(text.split("\r", 1)[0]).segment("MSH")
    except Exception:  # the hl7 package raises many kinds on junk
        return ""
    return field(msh, 4) or field(msh, 3)


def _results(message: Any, options: Hl7Options, source: str, text: str) -> list[Parsed]:
    pids = _segments(message, "PID")
    mrns = (
        patient_ids(pids[0], options.identifier_type, options.assigning_authority) if pids else ()
    )
    if not mrns:
        return [_whole("no patient identifier in PID-3", source, text)]
    msh, pid = str(message.segment("MSH")), str(pids[0])
    stated = stated_patient(mrns, birth_of(pids[0]), family_names(pids[0]), (source, FORMAT, text))
    items: list[Parsed] = []
    obr: Any = None
    header = "\r".join((msh, pid))  # what every result's raw text starts with
    for segment in message:
        name = str(segment[0])
        if name == "OBR":
            obr = segment
            header = "\r".join((msh, pid, str(obr)))
        elif name == "OBX":
            raw = header + "\r" + str(segment)
            context = _Context(mrns, source, raw, options.timezone, stated)
            items.append(_observation(segment, obr, context))
    if not items:
        return [_whole("the message holds no results (no OBX segments)", source, text)]
    return items


@dataclass(frozen=True)
class _Context:
    mrns: tuple[str, ...]
    source: str
    raw: str
    timezone: str
    stated: StatedPatient | None = None


def _observation(obx: Any, obr: Any, context: _Context) -> Parsed:
    """One OBX as an Incoming, a Skipped, or a Problem naming what could not be read."""
    try:
        return _incoming(obx, obr, context)
    except (ValueError, IndexError, TypeError) as error:
        return Problem(str(error), context.source, FORMAT, context.raw, stated=context.stated)


def _incoming(obx: Any, obr: Any, context: _Context) -> Parsed:
    status_code = field(obx, 11).upper()
    if status_code in _NOT_RESULTS:
        return Skipped(f"OBX-11 {status_code}: {_NOT_RESULTS[status_code]}")
    if status_code not in _STATUSES:
        raise ValueError(f"unknown result status OBX-11 {status_code!r}")
    codes = codes_of(obx)
    when = _collection_time(obx, obr)
    if when is None:
        raise ValueError("no collection time (OBR-7, OBX-14 or OBR-8)")
    collected_on, collected_at = when.resolve(context.timezone)
    low, high = reference_range(field(obx, 7))
    accession = (field(obr, 3) or field(obr, 2)) if obr is not None else ""
    return Incoming(
        mrns=context.mrns,
        codes=codes,
        value=value_of(obx),
        unit=unit_of(obx),
        collected_on=collected_on,
        collected_at=collected_at,
        status=_STATUSES[status_code],
        source=context.source,
        format=FORMAT,
        raw=context.raw,
        accession=accession or None,
        ref_low=low,
        ref_high=high,
        lab_flag=field(obx, 8) or None,
        stated=context.stated,
    )


def _collection_time(obx: Any, obr: Any) -> LabTime | None:
    """OBR-7 (specimen collection) first; OBX-14 (observation time) when a lab leaves OBR-7
    empty; OBR-8 (end of collection) last. Never MSH-7 or OBR-6: those are not collection."""
    return (
        (lab_time(obr, 7) if obr is not None else None)
        or lab_time(obx, 14)
        or (lab_time(obr, 8) if obr is not None else None)
    )


def _segments(message: Any, name: str) -> list[Any]:
    return [segment for segment in message if str(segment[0]) == name]


def _whole(reason: str, source: str, text: str) -> Problem:
    return Problem(reason, source, FORMAT, text, whole_message=True)


def _short(error: Exception) -> str:
    return (str(error) or type(error).__name__)[:200]
