"""Every threshold of the flag rules, with the SPEC §4/§9 defaults.

Each analyte has its own frozen dataclass so the config file can mirror it one to one:
`[rules.<analyte>]` tables whose keys are the field names below. `rule_settings_from_mapping`
builds a RuleSettings from such tables and names any unknown table or key, so a typo in the
config stops the program instead of silently keeping a default (SPEC §8).

All values are in the analyte's canonical unit (units.py). Ranges here are only the defaults: a
lab-sent range replaces them (and the ULN used for multiples) result by result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from itertools import pairwise
from typing import Any

# A sanity bound (docs/decisions.md), not a clinical claim: the dip window is days, not years.
MAX_DIP_DAYS = 365
# A sanity bound too: a repeat asked for further out than a quarter is a routine test, not a
# repeat. `repeat_within_days = 0` asks for no repeat (docs/decisions.md, "Results that ask for
# a repeat").
MAX_REPEAT_DAYS = 92
# The product defaults for a repeat: issue 14's, for the clinic's clinicians to confirm (the
# sources in clinical.md §3a and §3c ask for sooner; docs/decisions.md says how they differ).
DEFAULT_REPEAT_DAYS = 7


def _check_repeat(days: int) -> None:
    if days > MAX_REPEAT_DAYS:
        raise ValueError(
            f"repeat_within_days must be at most {MAX_REPEAT_DAYS} days (0: no repeat)"
        )


def _check(settings: Any) -> None:
    """Refuse negative or non-finite thresholds: they would make rules silently never fire."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{f.name} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{f.name} must be a finite number >= 0, got {value!r}")


def _check_order(name: str, *values: float) -> None:
    """Tiers must tighten in order (e.g. review 150 > urgent 100 > emergency 50)."""
    if any(a < b for a, b in pairwise(values)):
        raise ValueError(f"{name} thresholds must be in tier order, got {values}")


@dataclass(frozen=True)
class PlateletSettings:
    """10^9/L. `review_below` is replaced by the lab's lower limit when sent; the others stay."""

    review_below: float = 150.0
    urgent_below: float = 100.0
    emergency_below: float = 50.0
    fall_fraction: float = 0.5
    dip_days_after_course: int = 7
    # A count below `urgent_below`, or a fall of `fall_fraction`, asks for a repeat this many
    # days after the sample (0: no repeat).
    repeat_within_days: int = DEFAULT_REPEAT_DAYS

    def __post_init__(self) -> None:
        _check(self)
        _check_order("platelets", self.review_below, self.urgent_below, self.emergency_below)
        if not 0 < self.fall_fraction <= 1:
            raise ValueError("fall_fraction must be in (0, 1]")
        if self.dip_days_after_course > MAX_DIP_DAYS:
            raise ValueError(f"dip_days_after_course must be at most {MAX_DIP_DAYS} days")
        _check_repeat(self.repeat_within_days)


@dataclass(frozen=True)
class NeutrophilSettings:
    """10^9/L. `review_below` is replaced by the lab's lower limit when sent; the others stay."""

    review_below: float = 1.5
    urgent_below: float = 1.0
    emergency_below: float = 0.5

    def __post_init__(self) -> None:
        _check(self)
        _check_order("neutrophils", self.review_below, self.urgent_below, self.emergency_below)


@dataclass(frozen=True)
class LymphocyteSettings:
    """10^9/L. 0 means "never": SPEC §4 never flags lymphocytes (depletion is how alemtuzumab
    works), so the rule fires only for a cut-off a clinic or a protocol sets (e.g. dimethyl
    fumarate's `[protocols.dimethyl_fumarate.rules.lymphocytes]`). The lab's range is ignored."""

    review_below: float = 0.0
    urgent_below: float = 0.0
    emergency_below: float = 0.0

    def __post_init__(self) -> None:
        _check(self)
        _check_order(
            "lymphocytes",
            *(v for v in (self.review_below, self.urgent_below, self.emergency_below) if v),
        )


@dataclass(frozen=True)
class HemoglobinSettings:
    """g/L. Default range per sex (X = the widest); only the low end and the baseline drop flag."""

    low_f: float = 120.0
    high_f: float = 155.0
    low_m: float = 130.0
    high_m: float = 175.0
    low_x: float = 120.0
    high_x: float = 175.0
    baseline_drop_urgent: float = 20.0

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class CreatinineSettings:
    """umol/L. Default range per sex; only the high end, the baseline ratio and the rise flag."""

    low_f: float = 45.0
    high_f: float = 90.0
    low_m: float = 60.0
    high_m: float = 110.0
    low_x: float = 45.0
    high_x: float = 110.0
    baseline_ratio_urgent: float = 1.5
    rise_urgent: float = 26.5
    # An urgent (or emergency) creatinine finding asks for a repeat this many days after the
    # sample (0: no repeat).
    repeat_within_days: int = DEFAULT_REPEAT_DAYS

    def __post_init__(self) -> None:
        _check(self)
        _check_repeat(self.repeat_within_days)


@dataclass(frozen=True)
class UrineRbcSettings:
    """/HPF. Default upper limit of the urine red-cell range (the lab's replaces it)."""

    high: float = 2.0

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class TshSettings:
    """mIU/L. `low`/`high` are the default range (the lab's replaces it); urgent cut-offs stay."""

    low: float = 0.4
    high: float = 4.0
    urgent_below: float = 0.1
    urgent_above: float = 10.0

    def __post_init__(self) -> None:
        _check(self)
        _check_order("tsh", self.urgent_above, self.high, self.low, self.urgent_below)


@dataclass(frozen=True)
class LiverEnzymeSettings:
    """U/L, for ALT and AST alike. Multiples apply to the lab's ULN when sent, else `uln`."""

    uln: float = 40.0
    urgent_multiple: float = 3.0
    emergency_multiple: float = 5.0

    def __post_init__(self) -> None:
        _check(self)
        _check_order("liver enzyme", self.emergency_multiple, self.urgent_multiple)


@dataclass(frozen=True)
class BilirubinSettings:
    """umol/L. `combined_multiple` x ULN is the bilirubin half of the ALT/AST emergency rule."""

    uln: float = 21.0
    combined_multiple: float = 2.0

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class RuleSettings:
    """All thresholds; the attribute names are the `[rules.<analyte>]` table names."""

    platelets: PlateletSettings = field(default_factory=PlateletSettings)
    neutrophils: NeutrophilSettings = field(default_factory=NeutrophilSettings)
    lymphocytes: LymphocyteSettings = field(default_factory=LymphocyteSettings)
    hemoglobin: HemoglobinSettings = field(default_factory=HemoglobinSettings)
    creatinine: CreatinineSettings = field(default_factory=CreatinineSettings)
    urine_rbc: UrineRbcSettings = field(default_factory=UrineRbcSettings)
    tsh: TshSettings = field(default_factory=TshSettings)
    alt: LiverEnzymeSettings = field(default_factory=LiverEnzymeSettings)
    ast: LiverEnzymeSettings = field(default_factory=LiverEnzymeSettings)
    bilirubin: BilirubinSettings = field(default_factory=BilirubinSettings)


DEFAULT_SETTINGS = RuleSettings()


def rule_settings_from_mapping(data: Mapping[str, Mapping[str, float]]) -> RuleSettings:
    """Build settings from `{analyte: {field: value}}`, e.g. the `[rules]` TOML table.

    Missing tables and keys keep their defaults. An unknown table or key, a wrong type or an
    impossible value raises ValueError naming `rules.<analyte>.<key>`.
    """
    changes: dict[str, Any] = {}
    known_tables = [f.name for f in fields(RuleSettings)]
    for analyte, table in data.items():
        if analyte not in known_tables:
            raise ValueError(f"unknown key rules.{analyte}; known: {', '.join(known_tables)}")
        changes[analyte] = _table(analyte, getattr(DEFAULT_SETTINGS, analyte), table)
    return replace(DEFAULT_SETTINGS, **changes)


def protocol_rule_settings(
    base: RuleSettings, overrides: Iterable[tuple[str, Iterable[tuple[str, float]]]]
) -> RuleSettings:
    """`base` (the clinic's `[rules]`) with one protocol's `rules` overrides, key by key: a key
    the protocol does not give keeps the base value (SPEC §10.1). `overrides` is
    `ProtocolPlan.rules`: (analyte, ((key, value), ...)) pairs. ValueError names the key when
    the result is not valid settings (a protocol cut-off out of order with a base one)."""
    known = [f.name for f in fields(RuleSettings)]
    changes: dict[str, Any] = {}
    for analyte, keys in overrides:
        if analyte not in known:
            raise ValueError(f"unknown key rules.{analyte}; known: {', '.join(known)}")
        changes[analyte] = _table(analyte, getattr(base, analyte), dict(keys))
    return replace(base, **changes)


def _table(analyte: str, default: Any, table: Mapping[str, float]) -> Any:
    """One analyte's settings from its table, type-checked against the default's fields."""
    types = {f.name: type(getattr(default, f.name)) for f in fields(default)}
    values: dict[str, float] = {}
    for key, value in table.items():
        if key not in types:
            raise ValueError(f"unknown key rules.{analyte}.{key}; known: {', '.join(types)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"rules.{analyte}.{key} must be a number, got {value!r}")
        if types[key] is int and not float(value).is_integer():
            raise ValueError(f"rules.{analyte}.{key} must be a whole number, got {value!r}")
        values[key] = types[key](value)
    try:
        return replace(default, **values)
    except ValueError as error:
        raise ValueError(f"rules.{analyte}: {error}") from None


def rule_settings_to_mapping(settings: RuleSettings) -> dict[str, dict[str, float]]:
    """The inverse of rule_settings_from_mapping: every table with every key (for display)."""
    return {
        f.name: {
            g.name: getattr(getattr(settings, f.name), g.name)
            for g in fields(getattr(settings, f.name))
        }
        for f in fields(settings)
    }
