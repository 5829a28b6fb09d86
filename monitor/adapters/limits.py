"""How much one lab file or message may hold (issue 11 item 10; README "Lab results in").

Each limit is far above what a real feed sends (a real ORU^R01 carries tens of OBX segments, a
FHIR Bundle of results hundreds of entries) and far below what would tie the importer up: input
over a limit is refused whole, with a reason naming the limit, and goes to the quarantine. Only
the MLLP message size is a setting (`[hl7] max_message_bytes`): a lab that embeds PDF reports in
OBX-5 may need more. The adapters read these names at call time, so the benchmark can lift them.
"""

from __future__ import annotations

# An HL7 message: OBX segments, and the length of the segments copied into every result's raw
# text (MSH, PID, OBR), so that a result's own cost never grows with the message.
MAX_OBX_PER_MESSAGE = 1_000
MAX_CONTEXT_SEGMENT_CHARS = 16_384
CONTEXT_SEGMENTS = ("MSH", "PID", "OBR")
# A FHIR document: resources anywhere in it (entries, nested bundles, contained resources); a
# Patient is copied into each of its results' raw text, so it is bounded like an HL7 PID.
MAX_FHIR_RESOURCES = 5_000
MAX_FHIR_PATIENT_CHARS = MAX_CONTEXT_SEGMENT_CHARS
# A results CSV written by a clinic (a back-load of history included).
MAX_CSV_ROWS = 100_000
# Any file given to `monitor import`: a bigger one is not read at all.
MAX_FILE_BYTES = 64 * 1024 * 1024
# An MLLP frame over `[hl7] max_message_bytes` is read on and thrown away (only its first segment
# is kept, for the ACK and the quarantine) up to this many bytes, beyond which the connection is
# closed: a stream that never ends its frame cannot be answered.
MAX_DISCARDED_FRAME_BYTES = 64 * 1024 * 1024


def too_many(what: str, count: int, limit: int, unit: str) -> str:
    """The quarantine reason for input over a count limit."""
    return f"too large: {what} holds {count:,} {unit}, over the limit of {limit:,}"


def too_long(what: str, size: int, limit: int, unit: str = "characters") -> str:
    """The quarantine reason for input over a size limit."""
    return f"too large: {what} is {size:,} {unit} long, over the limit of {limit:,}"
