"""HL7 ACK messages, built from the received MSH by hand.

The `hl7` package's `create_ack` needs a parsed message (garbage has none) and reads the clock
with the deprecated `utcnow`; this builds the same MSH/MSA from the raw text instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_SPECIAL = re.compile(r"[|^~\\&\r\n]")


def ack_for(received: str, code: str, note: str, now: datetime) -> str:
    """An ACK for `received` (whatever its state) with MSA-1 `code` and MSA-3 `note`."""
    msh = _msh_fields(received)
    sent = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    control = msh.get(10, "")
    fields = [
        "MSH",
        "^~\\&",
        msh.get(5, "MONITOR"),
        msh.get(6, ""),
        msh.get(3, ""),
        msh.get(4, ""),
        sent,
        "",
        f"ACK^{_component(msh.get(9, ''), 1) or 'R01'}^ACK",
        f"ACK{now.strftime('%Y%m%d%H%M%S%f')}",
        msh.get(11, "P") or "P",
        msh.get(12, "2.5.1") or "2.5.1",
    ]
    msa = ["MSA", code, control, _clean(note)[:200]]
    return "|".join(fields) + "\r" + "|".join(msa) + "\r"


def _msh_fields(text: str) -> dict[int, str]:
    """MSH-n by number, read with the message's own separators; {} when there is no MSH."""
    start = text.lstrip("\ufeff \t\r\n")
    if not start.startswith("MSH") or len(start) < 8:
        return {}
    separator = start[3]
    line = re.split(r"\r\n|\r|\n", start, maxsplit=1)[0]
    parts = line.split(separator)
    fields = {number: _clean(value) for number, value in enumerate(parts[1:], start=2)}
    fields[2] = ""
    component = parts[1][:1] if len(parts) > 1 and parts[1] else "^"
    kind = parts[8].replace(component, "^") if len(parts) > 8 else ""
    fields[9] = re.sub(r"[|~\\&\r\n]", " ", kind).strip()
    return fields


def _component(value: str, number: int) -> str:
    parts = value.split("^")
    return parts[number] if len(parts) > number else ""


def _clean(value: str) -> str:
    return _SPECIAL.sub(" ", value).strip()
