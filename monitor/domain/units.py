"""Analytes, their canonical units and the conversions SPEC §4 accepts.

Every result keeps the value and unit as received; `measure` adds the value in the analyte's
canonical unit. A unit we do not know is refused, never guessed (clinical.md §4: a creatinine of
1.1 is mg/dL and of 97 is umol/L, but the product must not decide that on its own).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.errors import InvalidInput

ORDINAL_SCALES: dict[str, tuple[str, ...]] = {
    "urine_protein": ("negative", "trace", "1+", "2+", "3+", "4+"),
    "urine_blood": ("negative", "trace", "1+", "2+", "3+", "4+"),
    "skin_exam": ("normal", "abnormal"),
}

_CELLS = {
    "10^9/l": 1.0,
    "10*9/l": 1.0,
    "x10e9/l": 1.0,
    "10^3/ul": 1.0,
    "10*3/ul": 1.0,
    "k/ul": 1.0,
    "x10e3/ul": 1.0,
    "/ul": 0.001,
    "cells/ul": 0.001,
    # European lab spellings (issue 5 samples): G/l is giga per litre, never grams, for counts.
    "g/l": 1.0,
    "10e9/l": 1.0,
    "/nl": 1.0,
}

# analyte -> (canonical unit, {accepted unit in lower case with micro signs as "u": factor})
UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "platelets": ("10^9/L", _CELLS),
    "neutrophils": ("10^9/L", _CELLS),
    "lymphocytes": ("10^9/L", _CELLS),
    "wbc": ("10^9/L", _CELLS),
    "hemoglobin": ("g/L", {"g/l": 1.0, "g/dl": 10.0, "mmol/l": 16.11}),
    "creatinine": ("umol/L", {"umol/l": 1.0, "mcmol/l": 1.0, "mg/dl": 88.4}),
    "bilirubin": ("umol/L", {"umol/l": 1.0, "mcmol/l": 1.0, "mg/dl": 17.1}),
    "alt": ("U/L", {"u/l": 1.0, "iu/l": 1.0, "[iu]/l": 1.0, "ui/l": 1.0}),
    "ast": ("U/L", {"u/l": 1.0, "iu/l": 1.0, "[iu]/l": 1.0, "ui/l": 1.0}),
    "tsh": (
        "mIU/L",
        {"miu/l": 1.0, "uiu/ml": 1.0, "mu/l": 1.0, "m[iu]/l": 1.0, "u[iu]/ml": 1.0},
    ),
    "free_t4": ("pmol/L", {"pmol/l": 1.0, "ng/dl": 12.87}),
    "upcr": ("mg/mmol", {"mg/mmol": 1.0, "mg/g": 1 / 8.84}),
    "urine_rbc": ("/HPF", {"/hpf": 1.0, "cells/hpf": 1.0, "/[hpf]": 1.0}),
}

ANALYTES: tuple[str, ...] = (
    "platelets",
    "neutrophils",
    "lymphocytes",
    "wbc",
    "hemoglobin",
    "creatinine",
    "urine_rbc",
    "urine_protein",
    "urine_blood",
    "upcr",
    "tsh",
    "free_t4",
    "alt",
    "ast",
    "bilirubin",
    "skin_exam",
)

_DECIMAL = re.compile(r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")

_ORDINAL_SYNONYMS = {"neg": "negative", "nil": "negative", "tr": "trace", "+": "1+"}


@dataclass(frozen=True)
class Measurement:
    """A validated value: as received, and in the analyte's canonical unit.

    Numeric analytes have `canonical_value`; ordinal ones have `ordinal` (the scale's own word)
    and `rank` (its position on the scale, 0 = negative/normal).
    """

    analyte: str
    value: str
    unit: str
    canonical_unit: str
    canonical_value: float | None
    ordinal: str | None
    scale: tuple[str, ...] = ()

    @property
    def rank(self) -> int | None:
        if self.ordinal is None:
            return None
        return self.scale.index(self.ordinal)


@dataclass(frozen=True)
class Analyte:
    """One analyte the product takes in: its canonical unit and accepted spellings (lower
    case, micro signs as "u") with their factors, or its ordinal scale; the LOINC codes that
    name it beyond `codes.DEFAULT_LOINC` (config `[analytes.<name>]`, SPEC §10.1)."""

    name: str
    unit: str
    units: Mapping[str, float] = field(default_factory=dict)
    ordinal: tuple[str, ...] = ()
    loinc: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnalyteCatalogue:
    """Every analyte a clinic records: SPEC §2's, then those its configuration adds. One value,
    built once from the config and passed to whatever converts units or maps codes (never a
    module global changed at run time)."""

    analytes: Mapping[str, Analyte]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.analytes)

    def get(self, name: str) -> Analyte:
        """The analyte `name`; InvalidInput naming the known ones when there is none."""
        found = self.analytes.get(name)
        if found is None:
            raise InvalidInput(f"unknown analyte {name!r}; known: {', '.join(self.analytes)}")
        return found

    def with_analytes(self, added: Mapping[str, Analyte]) -> AnalyteCatalogue:
        return AnalyteCatalogue({**self.analytes, **added})


def _builtin(name: str) -> Analyte:
    if name in ORDINAL_SCALES:
        return Analyte(name, "ordinal", ordinal=ORDINAL_SCALES[name])
    canonical, accepted = UNITS[name]
    return Analyte(name, canonical, accepted)


# SPEC §2's analytes and §4's units: what every clinic has before its [analytes] tables.
DEFAULT_CATALOGUE = AnalyteCatalogue({name: _builtin(name) for name in ANALYTES})


def normalise_unit(unit: str) -> str:
    """Lower-case a unit and spell the micro sign (U+00B5) and Greek mu (U+03BC) as "u"."""
    return unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").lower()


def canonical_unit(analyte: str, catalogue: AnalyteCatalogue = DEFAULT_CATALOGUE) -> str:
    return catalogue.get(analyte).unit


def check_analyte(analyte: str, catalogue: AnalyteCatalogue = DEFAULT_CATALOGUE) -> None:
    catalogue.get(analyte)


def unit_factor(analyte: str, unit: str, catalogue: AnalyteCatalogue = DEFAULT_CATALOGUE) -> float:
    """The factor that turns a value in `unit` into the analyte's canonical unit."""
    known = catalogue.get(analyte)
    if not unit.strip():
        raise InvalidInput(f"missing unit for {analyte}")
    factor = known.units.get(normalise_unit(unit))
    if factor is None:
        raise InvalidInput(
            f"unknown unit {unit!r} for {analyte} (canonical {known.unit}; "
            f"accepted: {', '.join(sorted(known.units))})"
        )
    return factor


def measure(
    analyte: str,
    value: str,
    unit: str | None,
    catalogue: AnalyteCatalogue = DEFAULT_CATALOGUE,
) -> Measurement:
    """Validate one received value and convert it to the canonical unit (`catalogue`: the
    clinic's analytes, SPEC §2's by default).

    Raises InvalidInput naming the problem: unknown analyte, missing or unknown unit, a value
    that is not a finite non-negative number, or a word outside the ordinal scale.
    """
    known = catalogue.get(analyte)
    unit = (unit or "").strip()
    if known.ordinal:
        return _measure_ordinal(known, value, unit)
    factor = unit_factor(analyte, unit, catalogue)
    canonical = parse_number(analyte, value) * factor
    if not math.isfinite(canonical):
        raise InvalidInput(f"value {value!r} {unit} for {analyte} is too large")
    return Measurement(analyte, value.strip(), unit, known.unit, canonical, ordinal=None)


def parse_number(analyte: str, value: str) -> float:
    """A plain decimal number (ASCII digits, optional point and exponent), never negative.

    Stricter than float(), which would also take "1_5", "inf" or non-Latin digits.
    """
    text = value.strip()
    if text.startswith("-") and _DECIMAL.fullmatch(text[1:]):
        raise InvalidInput(f"value {value!r} for {analyte} is negative")
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InvalidInput(f"value {value!r} for {analyte} is not a finite number")
    if not _DECIMAL.fullmatch(text):
        raise InvalidInput(f"value {value!r} for {analyte} is not a number")
    number = float(text)
    if not math.isfinite(number):
        raise InvalidInput(f"value {value!r} for {analyte} is not a finite number")
    return number


def _measure_ordinal(known: Analyte, value: str, unit: str) -> Measurement:
    analyte = known.name
    if unit and unit.lower() != "ordinal":
        raise InvalidInput(f"{analyte} takes no unit (or 'ordinal'), got {unit!r}")
    word = value.strip().lower()
    word = _ORDINAL_SYNONYMS.get(word, word)
    scale = known.ordinal
    if word not in scale:
        raise InvalidInput(f"value {value!r} for {analyte} is not one of: {', '.join(scale)}")
    return Measurement(analyte, value.strip(), unit, "ordinal", None, ordinal=word, scale=scale)
