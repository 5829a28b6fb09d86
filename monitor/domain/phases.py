"""A monitoring protocol as plain data, and the due dates of its panels (SPEC §10.1, §10.2, §10.4).

`build_protocol` turns one parsed TOML table (`[protocols.<id>]`, or a `<id>.toml` file) into a
frozen `ProtocolPlan`, checking every key; an error is a `ProtocolError` naming the key path
(`protocols.natalizumab.panels.jcv.phases[1].until`). `due_dates` lists one panel's due dates
after an anchor.

Policy, stated once:

* **Month ends.** Months are added with dateutil's rule (`schedule.add_months`): a missing day
  clamps to the month's last day. When a phase's `from` and `every` are both in months, the k-th
  due date is `A + months(from + k*every)`, counted from the anchor A, never stepped from the
  previous date: 31 Jan 2024 with `from = "1m"`, `every = "1m"` gives 31 Mar, 30 Apr, 31 May
  (stepping from 29 Feb would drift to the 29th). Otherwise it is `(A + from) + k*every`, months
  again counted from `A + from`, weeks as 7 days.
* **Bounds.** A phase's `until` is inclusive (`due_on <= A + until`); a phase without `until` (only
  the last) runs to the caller's bound, the series' end, which is inclusive too. `at` offsets are
  `A + offset`. A date that two phases of a panel both give is one slot.
* **Defaults.** `from` is the previous phase's `until` (0 for the first phase); `every_months = m`
  is `phases = [{ every = "<m>m" }]`, whose dates are today's `schedule.build_schedule` dates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from monitor.domain.fields import NAME_LENGTH
from monitor.domain.lengths import Length, LengthError, Unit, parse_length
from monitor.domain.rules import rule_settings_from_mapping
from monitor.domain.schedule import add_months
from monitor.domain.tables import (
    ProtocolError,
    check_keys,
    check_name,
    check_table,
    key_path,
    read_bool,
    read_choice,
    read_int,
    read_optional_int,
    read_text,
)
from monitor.domain.units import ANALYTES

RuleOverrides = tuple[tuple[str, tuple[tuple[str, float], ...]], ...]


class Kind(StrEnum):
    COURSES = "courses"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class Phase:
    """`every` with `from_` (resolved: never None on an `every` phase) and `until`, or `at`."""

    every: Length | None = None
    from_: Length | None = None
    until: Length | None = None
    at: tuple[Length, ...] = ()


@dataclass(frozen=True)
class PanelPlan:
    name: str
    analytes: tuple[str, ...]
    phases: tuple[Phase, ...]
    baseline: bool = False
    window_before_days: int = 7
    window_after_days: int = 7
    patient_words: str = "your routine tests"
    sex: str | None = None
    indefinite: bool = False


@dataclass(frozen=True)
class ProtocolPlan:
    """`monitoring_months` is None only for an uncapped continuous protocol; `rules` holds the
    protocol's `[rules.<analyte>]` overrides as sorted (analyte, ((key, value), ...)) pairs."""

    id: str
    name: str
    kind: Kind
    panels: tuple[PanelPlan, ...]
    monitoring_months: int | None = 48
    after_stop_months: int = 0
    baseline_window_days: int = 30
    rules: RuleOverrides = ()


# --- due dates ------------------------------------------------------------------------------


def due_dates(panel: PanelPlan, anchor: date, last_due: date) -> list[date]:
    """Every due date of `panel`'s phases after `anchor` up to `last_due` (inclusive), sorted,
    each date once (two phases giving one date make one slot). Month-end policy: module doc."""
    found: set[date] = set()
    for phase in panel.phases:
        found.update(phase_due_dates(phase, anchor, last_due))
    return sorted(found)


def phase_due_dates(phase: Phase, anchor: date, last_due: date) -> list[date]:
    """One phase's due dates, in order: `at` offsets, or `every` steps from `from_` to the
    inclusive `until` (or to `last_due` when it is sooner or the phase has no `until`)."""
    if phase.every is None:
        return sorted(d for d in {offset.after(anchor) for offset in phase.at} if d <= last_due)
    end = last_due if phase.until is None else min(last_due, phase.until.after(anchor))
    start = phase.from_ or Length(0, phase.every.unit)
    dates = []
    k = 1
    due_on = _kth(anchor, start, phase.every, k)
    while due_on <= end:
        dates.append(due_on)
        k += 1
        due_on = _kth(anchor, start, phase.every, k)
    return dates


def _kth(anchor: date, start: Length, every: Length, k: int) -> date:
    """The k-th date of an `every` phase, counted from the anchor (never from the last date)."""
    if start.unit is Unit.MONTHS and every.unit is Unit.MONTHS:
        return add_months(anchor, start.count + k * every.count)
    return every.times(k).after(start.after(anchor))


# --- building from a parsed TOML table -------------------------------------------------------

PROTOCOL_KEYS = (
    "name",
    "kind",
    "monitoring_months",
    "after_stop_months",
    "baseline_window_days",
    "panels",
    "rules",
)
PANEL_KEYS = (
    "analytes",
    "baseline",
    "window_before_days",
    "window_after_days",
    "patient_words",
    "sex",
    "indefinite",
    "every_months",
    "phases",
    "enabled",
)
MAX_PANELS = 50
MAX_ANALYTES = 50
MAX_PHASES = 20
MAX_AT = 100
WORDS_LENGTH = 200


def build_protocol(
    protocol_id: str,
    table: Mapping[str, Any],
    *,
    where: str | None = None,
    known_analytes: Collection[str] = ANALYTES,
) -> ProtocolPlan:
    """The protocol `protocol_id` from its (merged) table; `where` prefixes every key path in an
    error (default `protocols.<id>`). A panel with `enabled = false` is left out unread."""
    where = where or key_path("protocols", protocol_id)
    check_name(protocol_id, where, "protocol id")
    check_keys(table, PROTOCOL_KEYS, where)
    kind = Kind(read_choice(table, "kind", where, [k.value for k in Kind], Kind.COURSES.value))
    if kind is Kind.COURSES and "after_stop_months" in table:
        raise ProtocolError(
            key_path(where, "after_stop_months"), "only a continuous protocol has a stop date"
        )
    default_months = 48 if kind is Kind.COURSES else None
    return ProtocolPlan(
        id=protocol_id,
        name=read_text(table, "name", where, NAME_LENGTH, protocol_id),
        kind=kind,
        panels=_panels(table, where, known_analytes),
        monitoring_months=read_optional_int(
            table, "monitoring_months", where, 1, 240, default_months
        ),
        after_stop_months=read_int(table, "after_stop_months", where, 0, 240, 0),
        baseline_window_days=read_int(table, "baseline_window_days", where, 0, 365, 30),
        rules=_rules(table, where),
    )


def _panels(
    table: Mapping[str, Any], where: str, known_analytes: Collection[str]
) -> tuple[PanelPlan, ...]:
    path = key_path(where, "panels")
    panels = table.get("panels", {})
    check_table(panels, path)
    if len(panels) > MAX_PANELS:
        raise ProtocolError(path, f"at most {MAX_PANELS} panels")
    built = []
    for name, panel in panels.items():
        check_name(name, key_path(path, name), "panel name")
        if _is_enabled(panel, key_path(path, name)):
            built.append(build_panel(name, panel, key_path(path, name), known_analytes))
    if not built:
        raise ProtocolError(path, "a protocol needs at least one panel")
    return tuple(built)


def _is_enabled(panel: Any, where: str) -> bool:
    """False for a panel switched off with `enabled = false` (its other keys are not read)."""
    if not isinstance(panel, dict):
        return True  # build_panel says "must be a table"
    return read_bool(panel, "enabled", where, True)


def build_panel(
    name: str, table: Any, where: str, known_analytes: Collection[str] = ANALYTES
) -> PanelPlan:
    """One panel from its table (`where` is its key path)."""
    check_name(name, where, "panel name")
    check_keys(table, PANEL_KEYS, where)
    return PanelPlan(
        name=name,
        analytes=_analytes(table, where, known_analytes),
        phases=_schedule(table, where),
        baseline=read_bool(table, "baseline", where, False),
        window_before_days=read_int(table, "window_before_days", where, 0, 365, 7),
        window_after_days=read_int(table, "window_after_days", where, 0, 365, 7),
        patient_words=read_text(table, "patient_words", where, WORDS_LENGTH, "your routine tests"),
        sex=read_choice(table, "sex", where, ["F", "M"], None),
        indefinite=read_bool(table, "indefinite", where, False),
    )


def _analytes(table: Mapping[str, Any], where: str, known: Collection[str]) -> tuple[str, ...]:
    path = key_path(where, "analytes")
    if "analytes" not in table:
        raise ProtocolError(path, "required (the analytes this panel asks for)")
    values = table["analytes"]
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_ANALYTES:
        raise ProtocolError(path, f"must be a list of 1-{MAX_ANALYTES} analyte names")
    for index, value in enumerate(values):
        if not isinstance(value, str) or value not in known:
            shown = repr(value)[:60]
            raise ProtocolError(f"{path}[{index}]", f"unknown analyte {shown}")
        if value in values[:index]:
            raise ProtocolError(f"{path}[{index}]", f"{value!r} is listed twice")
    return tuple(values)


def _schedule(table: Mapping[str, Any], where: str) -> tuple[Phase, ...]:
    if ("every_months" in table) == ("phases" in table):
        raise ProtocolError(where, "give exactly one of every_months and phases")
    if "every_months" in table:
        months = read_int(table, "every_months", where, 1, 120, 1)
        return (Phase(every=Length(months, Unit.MONTHS), from_=Length(0, Unit.MONTHS)),)
    path = key_path(where, "phases")
    given = table["phases"]
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_PHASES:
        raise ProtocolError(path, f"must be a list of 1-{MAX_PHASES} phase tables")
    phases: list[Phase] = []
    for index, phase in enumerate(given):
        is_last = index == len(given) - 1
        previous = phases[-1] if phases else None
        phases.append(build_phase(phase, f"{path}[{index}]", previous, is_last))
    return tuple(phases)


def build_phase(table: Any, where: str, previous: Phase | None, is_last: bool) -> Phase:
    """One phase; `previous` gives the default `from` (its `until`), `is_last` allows no `until`."""
    check_keys(table, ("every", "from", "until", "at"), where)
    if ("every" in table) == ("at" in table):
        raise ProtocolError(where, "give exactly one of every and at")
    if "at" in table:
        for key in ("from", "until"):
            if key in table:
                raise ProtocolError(key_path(where, key), "only an every phase has from and until")
        return Phase(at=_offsets(table["at"], key_path(where, "at")))
    every = _length(table["every"], key_path(where, "every"), minimum=1)
    from_ = _from(table, where, previous, every)
    until = None
    if "until" in table:
        until = _length(table["until"], key_path(where, "until"), minimum=0)
        _check_until(from_, until, key_path(where, "until"))
    elif not is_last:
        raise ProtocolError(key_path(where, "until"), "required on every phase but the last")
    return Phase(every=every, from_=from_, until=until)


def _from(table: Mapping[str, Any], where: str, previous: Phase | None, every: Length) -> Length:
    if "from" in table:
        return _length(table["from"], key_path(where, "from"), minimum=0)
    if previous is None:
        return Length(0, every.unit)
    if previous.until is None:  # an `at` phase (an `every` one before the last has `until`)
        raise ProtocolError(
            key_path(where, "from"), "required after an at phase (there is no until to start from)"
        )
    return previous.until


def _check_until(from_: Length, until: Length, path: str) -> None:
    if from_.count and until.unit is not from_.unit:
        raise ProtocolError(path, f"{until} must be in the unit of from ({from_})")
    if until.count <= from_.count:
        raise ProtocolError(path, f"{until} must be later than from ({from_})")


def _offsets(values: Any, path: str) -> tuple[Length, ...]:
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_AT:
        raise ProtocolError(path, f"must be a list of 1-{MAX_AT} lengths, e.g. ['1m', '3m']")
    offsets = [_length(value, f"{path}[{i}]", minimum=1) for i, value in enumerate(values)]
    for index, offset in enumerate(offsets):
        if offset in offsets[:index]:
            raise ProtocolError(f"{path}[{index}]", f"{offset} is listed twice")
    return tuple(offsets)


def _length(value: Any, path: str, *, minimum: int) -> Length:
    try:
        return parse_length(value, minimum=minimum)
    except LengthError as error:
        raise ProtocolError(path, str(error)) from None


def _rules(table: Mapping[str, Any], where: str) -> RuleOverrides:
    """The `rules` overrides, checked against `[rules]`' own keys and types (SPEC §4)."""
    path = key_path(where, "rules")
    given = table.get("rules", {})
    check_table(given, path)
    for analyte, keys in given.items():
        check_table(keys, key_path(path, analyte))
    try:
        rule_settings_from_mapping(given)
    except ValueError as error:
        raise ProtocolError(where, str(error)) from None
    return tuple(
        (analyte, tuple(sorted((key, value) for key, value in keys.items())))
        for analyte, keys in sorted(given.items())
    )
