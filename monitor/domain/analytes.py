"""Analytes beyond SPEC §2's list, read from `[analytes.<name>]` tables (SPEC §10.1).

A table gives either `unit` (the canonical unit, which is always accepted as written) with
optional `units` (other spellings and the factor that turns a value in them into the canonical
unit) or `ordinal` (the scale's words, lowest first: the first word is the normal one); and
optionally `loinc` (codes that name the analyte). `build_analytes` checks every key and raises a
`ProtocolError` naming it (`analytes.jcv_index.units.mg/dl`), the style of every protocol error.

Where SPEC is silent (docs/decisions.md, "Analytes beyond SPEC §2"): §2's own analytes cannot be
redefined (their units are SPEC §4's); two files that define one name differently are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from monitor.domain.codes import LOINC_SHAPE
from monitor.domain.tables import ProtocolError, check_keys, check_name, check_table, key_path
from monitor.domain.units import (
    ANALYTES,
    DEFAULT_CATALOGUE,
    Analyte,
    AnalyteCatalogue,
    normalise_unit,
)

ANALYTE_KEYS = ("unit", "units", "ordinal", "loinc")
UNIT_LENGTH = 32  # the width of the results table's unit column
MAX_SPELLINGS = 50
MAX_WORDS = 20
MAX_CODES = 20
MAX_ANALYTES = 100
_WORD = re.compile(r"[a-z0-9][a-z0-9+\- ]{0,31}")


def build_analytes(tables: Any, where: str = "analytes") -> dict[str, Analyte]:
    """Each `[analytes.<name>]` table as an Analyte, name -> analyte, in the order given."""
    check_table(tables, where)
    if len(tables) > MAX_ANALYTES:
        raise ProtocolError(where, f"at most {MAX_ANALYTES} analytes")
    return {
        name: build_analyte(name, table, key_path(where, name)) for name, table in tables.items()
    }


def build_analyte(name: str, table: Any, where: str) -> Analyte:
    """One analyte from its table (`where` is its key path)."""
    check_name(name, where, "analyte name")
    if name in ANALYTES:
        raise ProtocolError(where, f"{name} is a SPEC §2 analyte; its units are fixed (SPEC §4)")
    check_keys(table, ANALYTE_KEYS, where)
    loinc = _codes(table.get("loinc", []), key_path(where, "loinc"))
    if ("unit" in table) == ("ordinal" in table):
        raise ProtocolError(where, "give exactly one of unit and ordinal")
    if "ordinal" in table:
        if "units" in table:
            raise ProtocolError(key_path(where, "units"), "an ordinal analyte takes no units")
        return Analyte(name, "ordinal", ordinal=_words(table["ordinal"], where), loinc=loinc)
    unit = _unit(table["unit"], key_path(where, "unit"))
    spellings = {normalise_unit(unit): 1.0, **_spellings(table.get("units", {}), where, unit)}
    return Analyte(name, unit, spellings, loinc=loinc)


def catalogue_with(
    added: Mapping[str, Analyte], base: AnalyteCatalogue = DEFAULT_CATALOGUE
) -> AnalyteCatalogue:
    """`base` (SPEC §2's analytes) with `added`, each LOINC code naming one analyte only."""
    named: dict[str, str] = {code: a.name for a in base.analytes.values() for code in a.loinc}
    for analyte in added.values():
        for code in analyte.loinc:
            other = named.setdefault(code, analyte.name)
            if other != analyte.name:
                raise ProtocolError(
                    f"analytes.{analyte.name}.loinc", f"{code} already names {other}"
                )
    return base.with_analytes(added)


def _unit(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > UNIT_LENGTH:
        raise ProtocolError(path, f"must be a unit written in 1-{UNIT_LENGTH} characters")
    if any(ord(ch) < 0x20 for ch in value) or normalise_unit(value) == "ordinal":
        raise ProtocolError(path, f"{value[:40]!r} is not a unit")
    return value.strip()


def _spellings(table: Any, where: str, canonical: str) -> dict[str, float]:
    path = key_path(where, "units")
    check_table(table, path)
    if len(table) > MAX_SPELLINGS:
        raise ProtocolError(path, f"at most {MAX_SPELLINGS} spellings")
    found: dict[str, float] = {}
    for spelling, factor in table.items():
        at = key_path(path, spelling)
        key = normalise_unit(_unit(spelling, at))
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ProtocolError(at, "must be a number (the factor to the canonical unit)")
        if not math.isfinite(factor) or factor <= 0:
            raise ProtocolError(at, f"the factor must be a finite number above 0, not {factor}")
        if key == normalise_unit(canonical) and factor != 1:
            raise ProtocolError(at, f"is the canonical unit {canonical!r}, whose factor is 1")
        if key in found:
            raise ProtocolError(at, "is listed twice (units ignore case and the micro sign)")
        found[key] = float(factor)
    return found


def _words(values: Any, where: str) -> tuple[str, ...]:
    path = key_path(where, "ordinal")
    if not isinstance(values, list) or not 2 <= len(values) <= MAX_WORDS:
        raise ProtocolError(path, f"must be a list of 2-{MAX_WORDS} words, the normal one first")
    for index, word in enumerate(values):
        if not isinstance(word, str) or not _WORD.fullmatch(word):
            raise ProtocolError(f"{path}[{index}]", "must be a lower-case word (a-z 0-9 + -)")
        if word in values[:index]:
            raise ProtocolError(f"{path}[{index}]", f"{word!r} is listed twice")
    return tuple(values)


def _codes(values: Any, path: str) -> tuple[str, ...]:
    if not isinstance(values, list) or len(values) > MAX_CODES:
        raise ProtocolError(path, f"must be a list of up to {MAX_CODES} LOINC codes")
    for index, code in enumerate(values):
        if not isinstance(code, str) or not LOINC_SHAPE.fullmatch(code):
            raise ProtocolError(f"{path}[{index}]", "must be a LOINC code such as '2465-3'")
    return tuple(dict.fromkeys(values))
