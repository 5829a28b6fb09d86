"""Which analyte a lab's code means: LOINC first, then the lab's own local codes.

Labs send LOINC in the primary or the alternate code of a result, or only their own local codes
(PROVENANCE.md of the samples: MOLIS, INLAB, HT ...). A code we do not know is never guessed from
its name: near misses such as urine creatinine (2161-8) or creatinine in blood (38483-4) must not
become serum creatinine. An unmapped code goes to the quarantine, where someone can add it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.domain.units import ANALYTES

ANALYTE_SYSTEM = "analyte"  # a CSV row that names our analyte directly
LOINC_SYSTEMS = frozenset({"ln", "loinc", "http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"})
LOINC_SHAPE = re.compile(r"\d{1,7}-\d")
ANALYTE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# clinical.md §4; both creatinine and both bilirubin codes (mass and molar) map to one analyte.
DEFAULT_LOINC: dict[str, str] = {
    "777-3": "platelets",
    "751-8": "neutrophils",
    "731-0": "lymphocytes",
    "6690-2": "wbc",
    "718-7": "hemoglobin",
    "2160-0": "creatinine",
    "14682-9": "creatinine",
    "77140-2": "creatinine",
    "13945-1": "urine_rbc",
    "5794-3": "urine_blood",
    "20454-5": "urine_protein",
    "2890-2": "upcr",
    "3016-3": "tsh",
    "3024-7": "free_t4",
    "1742-6": "alt",
    "1920-8": "ast",
    "1975-2": "bilirubin",
    "14631-6": "bilirubin",
}


@dataclass(frozen=True)
class Code:
    """One code a result carries: its coding system as sent (may be empty), the code, its name."""

    system: str
    code: str
    name: str = ""

    def __str__(self) -> str:
        label = f"{self.code} ({self.name})" if self.name else self.code
        shown = self.system if self.system != ANALYTE_SYSTEM else ""
        return f"{label} [{shown}]" if shown else label


@dataclass(frozen=True)
class CodeMap:
    """LOINC codes and per-source local codes to analytes (config `[codes]`, and the `loinc`
    of `[analytes.<name>]`); `analytes` are the names a CSV row may give directly."""

    loinc: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LOINC))
    local: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    analytes: frozenset[str] = frozenset(ANALYTES)

    def analyte_for(self, codes: Iterable[Code], source: str) -> tuple[str, Code] | None:
        """The analyte and the code that named it; a LOINC match wins over a local one.

        Local codes are looked up under the result's source and under the code's own coding
        system name (OBX-3.3, e.g. MOLIS), so one table serves every feed of a lab.
        """
        given = [c for c in codes if c.code.strip()]
        for code in given:
            if code.system == ANALYTE_SYSTEM and code.code.strip() in self.analytes:
                return code.code.strip(), code
        for code in given:
            if is_loinc(code) and code.code.strip() in self.loinc:
                return self.loinc[code.code.strip()], code
        for code in given:
            system = "" if code.system == ANALYTE_SYSTEM else code.system
            for table in (source, system):
                analyte = self.local.get(table.strip(), {}).get(code.code.strip())
                if analyte:
                    return analyte, code
        return None


def names_analyte(code: str) -> bool:
    """A CSV cell that is shaped like an analyte name (`jcv_index`), not like a lab's code:
    the code map decides whether the clinic knows it."""
    return bool(ANALYTE_NAME.fullmatch(code))


def is_loinc(code: Code) -> bool:
    """LOINC by its system, or by its shape when the lab names no system at all."""
    system = code.system.strip().lower()
    if system in LOINC_SYSTEMS:
        return True
    return not system and bool(LOINC_SHAPE.fullmatch(code.code.strip()))


def mapping_line(codes: Iterable[Code], source: str) -> str | None:
    """The config.toml line that would map an unmapped result, e.g.
    `[codes.local.citylab] PLT = "<analyte>"`: its first local code under the result's source
    (the table `analyte_for` looks in first), else its LOINC code under `[codes.loinc]`.
    None when the result carries no code at all."""
    given = [c for c in codes if c.code.strip()]
    local = [c for c in given if not is_loinc(c)]
    if local:
        table = f"[codes.local.{toml_key(source.strip() or 'unknown')}]"
        return f'{table} {toml_key(local[0].code.strip())} = "<analyte>"'
    if given:
        return f'[codes.loinc] {_quoted(given[0].code.strip())} = "<analyte>"'
    return None


def toml_key(name: str) -> str:
    """A TOML key as written: bare when it can be, else a quoted string ("NEUT%", "CITY LAB")."""
    return name if _BARE_KEY.fullmatch(name) else _quoted(name)


def _quoted(name: str) -> str:
    return '"' + "".join(_toml_char(ch) for ch in name) + '"'


def _toml_char(ch: str) -> str:
    if ch in ('"', "\\"):
        return "\\" + ch
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\u{ord(ch):04X}"
    return ch


def codes_by_analyte(loinc: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The inverse of a `CodeMap.loinc` (code -> analyte): each analyte's LOINC codes, in the
    map's order (a lab request form prints them beside the analyte)."""
    found: dict[str, list[str]] = {}
    for code, analyte in loinc.items():
        found.setdefault(analyte, []).append(code)
    return {analyte: tuple(codes) for analyte, codes in found.items()}
