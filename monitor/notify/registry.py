"""Every message the service sends, registered once: its name, audience, builders and dedupe key.

A message's name is its template folder (`templates/email/<name>/`) and its outbox `message`
column. Its context builder (`notify.messages`) turns plain values into the template's context;
a patient reminder also has a calendar builder (`notify.calendar`), called with the day the
email is queued, a DTSTAMP and the same values. Its dedupe key is the name and the parts that
make one message unique (`("patient_id", "run_on")`: one reminder per patient per cycle), so a
second cycle, a restart or a racing process queues nothing twice.

Everything else derives from here: `render_email` refuses names not registered, the services
queue through `services.mail.queueing.queue_message`, `monitor preview` lists these names, and
the outbox reads "patient messages" from `names(Audience.PATIENT)`. Adding a message is one
`_register(...)` line, one context builder and one template folder.

Pure, like the builders: no database, no clock, no configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Concatenate, Generic, ParamSpec

from monitor.domain.reminders import TESTS_DUE, TESTS_OVERDUE
from monitor.notify.calendar import build_calendar, build_overdue_calendar
from monitor.notify.messages import (
    Clinic,
    TestDue,
    patient_sms_context,
    patient_tests_due_context,
    patient_tests_overdue_context,
    staff_daily_digest_context,
    staff_escalation_context,
    staff_urgent_flag_context,
)

P = ParamSpec("P")

SKIPPED = "skipped"  # a skip filed beside its message: "<key>:skipped:<tag>"


class Audience(StrEnum):
    PATIENT = "patient"  # the patient's own address: no clinical detail (notify.messages)
    STAFF = "staff"  # the clinic's configured lists: patients by MRN only


@dataclass(frozen=True)
class Message(Generic[P]):
    """One registered message; `draft(...)` binds the values its builders take."""

    name: str
    audience: Audience
    context: Callable[P, dict[str, Any]]
    key: tuple[str, ...]
    calendar: Callable[Concatenate[date, datetime, P], str] | None = None
    sms: Callable[P, dict[str, Any]] | None = None  # a patient reminder's SMS (`notify.sms`)

    def draft(self, *args: P.args, **kwargs: P.kwargs) -> Draft:
        """This message with its builders' values, built only when it is queued."""
        return Draft(self, args, kwargs)

    def dedupe_key(self, parts: Mapping[str, object], tag: str | None = None) -> str:
        """`name:part:part` from `parts` in the order of `key`; a `tag` files a skip beside it.

        ValueError when a part of the shape is missing or None: a key that says "None" would
        make two different messages one.
        """
        values = [parts.get(part) for part in self.key]
        if any(value is None for value in values):
            missing = [part for part, value in zip(self.key, values, strict=True) if value is None]
            raise ValueError(f"{self.name}: the dedupe key needs {', '.join(missing)}")
        key = ":".join([self.name, *(_key_part(value) for value in values)])
        return key if tag is None else f"{key}:{SKIPPED}:{tag}"


@dataclass(frozen=True)
class Draft:
    """A message and the values its builders take (typed by `Message.draft`)."""

    message: Message[...]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        return self.message.context(*self.args, **self.kwargs)

    def sms_context(self) -> dict[str, Any]:
        """The context of this message's SMS; ValueError for a message that has none."""
        build = self.message.sms
        if build is None:
            raise ValueError(f"{self.message.name}: only patient reminders go by SMS")
        return build(*self.args, **self.kwargs)

    def calendar(self, on: date | None, stamp: datetime) -> str | None:
        """The .ics for a message queued by the cycle of `on`; None for a message without one."""
        build = self.message.calendar
        if build is None:
            return None
        if on is None:
            raise ValueError(f"{self.message.name}: its calendar needs the cycle's date")
        return build(on, stamp, *self.args, **self.kwargs)


def _key_part(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _due_calendar(
    on: date,
    stamp: datetime,
    first_name: str,
    clinic: Clinic,
    tests: Sequence[TestDue],
    calendar_url: str | None = None,
) -> str:
    return build_calendar(clinic, tests, stamp=stamp)


def _overdue_calendar(
    on: date,
    stamp: datetime,
    first_name: str,
    clinic: Clinic,
    tests: Sequence[TestDue],
    calendar_url: str | None = None,
) -> str:
    return build_overdue_calendar(clinic, tests, emailed_on=on, stamp=stamp)


_REGISTRY: dict[str, Message[...]] = {}

PER_PATIENT_CYCLE = ("patient_id", "run_on")  # one reminder of a kind per patient per cycle


def _register(message: Message[P]) -> Message[P]:
    if message.name in _REGISTRY:
        raise ValueError(f"message {message.name!r} is registered twice")
    _REGISTRY[message.name] = message
    return message


PATIENT_TESTS_DUE = _register(
    Message(
        TESTS_DUE,
        Audience.PATIENT,
        patient_tests_due_context,
        PER_PATIENT_CYCLE,
        _due_calendar,
        patient_sms_context,
    )
)
PATIENT_TESTS_OVERDUE = _register(
    Message(
        TESTS_OVERDUE,
        Audience.PATIENT,
        patient_tests_overdue_context,
        PER_PATIENT_CYCLE,
        _overdue_calendar,
        patient_sms_context,
    )
)
STAFF_DAILY_DIGEST = _register(
    Message("staff-daily-digest", Audience.STAFF, staff_daily_digest_context, ("site", "run_on"))
)
STAFF_URGENT_FLAG = _register(
    Message("staff-urgent-flag", Audience.STAFF, staff_urgent_flag_context, ("flag_id",))
)


STAFF_ESCALATION = _register(
    Message(
        "staff-escalation",
        Audience.STAFF,
        staff_escalation_context,
        ("patient_id", "overdue_since"),  # once per patient per overdue episode
    )
)


def names(audience: Audience | None = None) -> tuple[str, ...]:
    """Registered names in registration order, all or one audience's."""
    return tuple(m.name for m in _REGISTRY.values() if audience in (None, m.audience))


MESSAGES = names()
PATIENT_MESSAGES = names(Audience.PATIENT)


def registered(name: str) -> Message[...]:
    """The registered message called `name`; ValueError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown message {name!r}; known: {', '.join(MESSAGES)}") from None
