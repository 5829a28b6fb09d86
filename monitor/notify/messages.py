"""One context builder per message: plain values in, the template's context dict out.

These functions are pure (no database, no clock, no configuration) so the daily run, the preview
command and the tests build exactly the same contexts. They also decide what a message may say:

- Patient messages (`patient-tests-due`, `patient-tests-overdue`) get the first name, the tests in
  plain words, the due-by dates and the clinic's name and phone, and nothing else: no drug, no
  diagnosis, no MRN, no date of birth, no result, no flag (SPEC §5, clinical reference §7). The
  builders take no other identifying value, so a template cannot leak one.
- Staff messages (`staff-daily-digest`, `staff-urgent-flag`) go to the clinic's own addresses and
  identify patients by MRN only (never by name, email or date of birth).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

BLOOD_AND_URINE = "your routine blood and urine tests"
THYROID = "your thyroid blood test"
SKIN = "your yearly skin check"

_PLAIN_WORDS = {"tsh": THYROID, "skin": SKIN}  # every other panel is a routine blood test
_WORDS_ORDER = (BLOOD_AND_URINE, THYROID, SKIN)

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

ALL_CLEAR = "All clear: nothing overdue, no open urgent flags."
MAIL_PROBLEM_PREFIX = "Email delivery had problems: "


@dataclass(frozen=True)
class Clinic:
    name: str
    phone: str


@dataclass(frozen=True)
class TestDue:
    """One slot a patient is reminded of: its panel name, its due-by date and the plain words
    its protocol gives the panel (`patient_words`; empty: alemtuzumab's words for the name)."""

    __test__ = False  # not a pytest test class, despite the name

    panel: str
    due_on: date
    words: str = ""

    @property
    def what(self) -> str:
        return self.words or _PLAIN_WORDS.get(self.panel, BLOOD_AND_URINE)


@dataclass(frozen=True)
class DigestOverdue:
    mrn: str
    panel: str
    due_on: date
    days_overdue: int
    missed: int
    open_alert: str | None
    feed_late: bool = False  # the lab feed that serves this patient has gone quiet
    protocol: str = ""  # staff only: named beside the panel when rows span several protocols


@dataclass(frozen=True)
class DigestAlert:
    flag_id: int
    mrn: str
    severity: str
    analyte: str
    value: str
    unit: str
    collected_on: date
    message: str


@dataclass(frozen=True)
class DigestUnreachable:
    """A patient whose reminder could not be sent, and why ("no email address", ...)."""

    mrn: str
    reason: str


@dataclass(frozen=True)
class DigestDueSoon:
    mrn: str
    panel: str
    due_on: date


def long_date(day: date) -> str:
    """A date the way a patient reads it, "Thursday 12 March 2026" (no locale involved)."""
    return f"{_DAY_NAMES[day.weekday()]} {day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"


def day_month_year(day: date) -> str:
    """A date in few characters but still plain words, "12 March 2026" (an SMS's)."""
    return f"{day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"


def describe_panels(panels: Iterable[str]) -> list[str]:
    """Alemtuzumab's panel names in plain words (`order_words`)."""
    return order_words(_PLAIN_WORDS.get(panel, BLOOD_AND_URINE) for panel in panels)


def order_words(phrases: Iterable[str]) -> list[str]:
    """Each phrase once: blood and urine first, then thyroid, skin, then any other in the order
    first given."""
    given = list(dict.fromkeys(phrases))
    known = [words for words in _WORDS_ORDER if words in given]
    return known + [words for words in given if words not in _WORDS_ORDER]


def join_words(parts: Sequence[str]) -> str:
    """Phrases joined as "a", "a and b", "a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def group_by_date(tests: Iterable[TestDue]) -> dict[date, list[str]]:
    """The tests' plain words per due date, dates in order, each phrase once (`order_words`)."""
    grouped: dict[date, list[str]] = {}
    for test in sorted(tests, key=lambda t: t.due_on):
        grouped.setdefault(test.due_on, []).append(test.what)
    return {due_on: order_words(phrases) for due_on, phrases in grouped.items()}


def _patient_items(tests: Sequence[TestDue]) -> list[dict[str, str]]:
    if not tests:
        raise ValueError("a patient reminder needs at least one test")
    items = []
    for due_on, phrases in group_by_date(tests).items():
        what = join_words(phrases)
        due_by = long_date(due_on)
        items.append({"what": what, "due_by": due_by, "sentence": f"{what}, due by {due_by}"})
    return items


def it_or_them(whats: Sequence[str]) -> str:
    """ "it" for one thing ("your thyroid blood test"), "them" otherwise (the tests are plural)."""
    return "it" if len(whats) == 1 and whats[0] in (THYROID, SKIN) else "them"


def _patient_context(first_name: str, clinic: Clinic, tests: Sequence[TestDue]) -> dict[str, Any]:
    items = _patient_items(tests)
    return {
        "first_name": first_name.strip(),
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone,
        "items": items,
        "it_or_them": it_or_them([item["what"] for item in items]),
    }


def patient_sms_context(
    first_name: str, clinic: Clinic, tests: Sequence[TestDue], calendar_url: str | None = None
) -> dict[str, Any]:
    """A patient reminder as one line for an SMS (`notify.sms`): every test in plain words and
    the first due-by date. It takes the email builders' values and drops the first name: an SMS
    is read on a lock screen (docs/decisions.md, "Reminder channels"); the calendar link too
    (160 characters hold the reminder, not a URL)."""
    if not tests:
        raise ValueError("a patient reminder needs at least one test")
    every_what = order_words(test.what for test in sorted(tests, key=lambda t: t.due_on))
    return {
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone,
        "what": join_words(every_what),
        "it_or_them": it_or_them(every_what),
        "due_by": day_month_year(min(test.due_on for test in tests)),
    }


def patient_tests_due_context(
    first_name: str, clinic: Clinic, tests: Sequence[TestDue], calendar_url: str | None = None
) -> dict[str, Any]:
    """`patient-tests-due`: one item per due date ("... and ..., due by Thursday 12 March 2026")."""
    return {**_patient_context(first_name, clinic, tests), "calendar_url": calendar_url}


def patient_tests_overdue_context(
    first_name: str, clinic: Clinic, tests: Sequence[TestDue], calendar_url: str | None = None
) -> dict[str, Any]:
    """`patient-tests-overdue`: the same items, for a gentle "we have not received" message."""
    return {**_patient_context(first_name, clinic, tests), "calendar_url": calendar_url}


def _alert_row(alert: DigestAlert) -> dict[str, Any]:
    return {
        "flag_id": alert.flag_id,
        "mrn": alert.mrn,
        "severity": alert.severity,
        "analyte": alert.analyte,
        "value": alert.value,
        "unit": alert.unit,
        "collected_on": alert.collected_on.isoformat(),
        "message": alert.message,
    }


def staff_daily_digest_context(
    clinic: Clinic,
    site: str,
    on: date,
    overdue: Sequence[DigestOverdue],
    alerts: Sequence[DigestAlert],
    unreachable: Sequence[DigestUnreachable],
    mail_problem: str | None = None,
    due_soon: Sequence[DigestDueSoon] = (),
    late_feeds: Sequence[str] = (),
    on_hold: str | None = None,
    escalations: Sequence[DigestEscalation] = (),
    escalate_after_days: int | None = None,
) -> dict[str, Any]:
    """`staff-daily-digest` for one site and day; rows stay in the order given.

    The digest goes out every day: with nothing overdue, no open flag and nobody unreachable it
    carries the all-clear line. `mail_problem` is the detail of the delivery line (for example
    "3 messages are waiting to be retried"; the "Email delivery had problems: " prefix is added
    unless already there); None leaves the line out. `due_soon` is an optional, informational list.
    `on_hold` says why patient reminders are held back (the configuration is not the clinic's
    own yet); while they are, the digest never claims "all clear". When the overdue rows span
    several protocols, each panel is named with its protocol ("lft (natalizumab)").
    `escalations` are the site's patients overdue more than `escalate_after_days` days with no
    successful contact (each also goes to `staff.urgent_to` once, as `staff-escalation`).
    """
    several = len({row.protocol for row in overdue}) > 1
    return {
        "clinic_name": clinic.name,
        "site": site,
        "on": on.isoformat(),
        "overdue": [
            {
                "mrn": row.mrn,
                "panel": f"{row.panel} ({row.protocol})" if several else row.panel,
                "due_on": row.due_on.isoformat(),
                "days_overdue": row.days_overdue,
                "missed": row.missed,
                "open_alert": row.open_alert or "",
                "feed_late": row.feed_late,
            }
            for row in overdue
        ],
        "late_feeds": list(late_feeds),
        "alerts": [_alert_row(alert) for alert in alerts],
        "unreachable": [{"mrn": row.mrn, "reason": row.reason} for row in unreachable],
        "due_soon": [
            {"mrn": row.mrn, "panel": row.panel, "due_on": row.due_on.isoformat()}
            for row in due_soon
        ],
        "all_clear": ALL_CLEAR if not (overdue or alerts or unreachable or on_hold) else "",
        "mail_problem": _mail_problem_line(mail_problem),
        "on_hold": on_hold or "",
        "escalations": [_escalation_row(row) for row in escalations],
        "escalate_after_days": escalate_after_days,
    }


def _mail_problem_line(detail: str | None) -> str:
    if not detail:
        return ""
    return detail if detail.startswith(MAIL_PROBLEM_PREFIX) else MAIL_PROBLEM_PREFIX + detail


def staff_urgent_flag_context(clinic: Clinic, alert: DigestAlert, site: str) -> dict[str, Any]:
    """`staff-urgent-flag`: one new urgent or emergency flag, identified by MRN."""
    return {"clinic_name": clinic.name, "site": site, "alert": _alert_row(alert)}


@dataclass(frozen=True)
class DigestEscalation:
    """A patient overdue too long with no successful contact (issue 14): by MRN, with the due
    date of their oldest overdue test, its panels and the last attempt's outcome, if any."""

    mrn: str
    overdue_since: date
    days_overdue: int
    panels: tuple[str, ...]
    last_outcome: str | None = None
    last_on: date | None = None


def _escalation_row(row: DigestEscalation) -> dict[str, Any]:
    return {
        "mrn": row.mrn,
        "overdue_since": row.overdue_since.isoformat(),
        "days_overdue": row.days_overdue,
        "panels": ", ".join(row.panels),
        "last_contact": (
            f"{row.last_outcome} on {row.last_on.isoformat()}"
            if row.last_outcome and row.last_on
            else "none recorded"
        ),
    }


def staff_escalation_context(
    clinic: Clinic, escalation: DigestEscalation, site: str, after_days: int
) -> dict[str, Any]:
    """`staff-escalation`: one patient overdue more than `after_days` days without being
    reached, identified by MRN only (no name, phone, result or flag)."""
    return {
        "clinic_name": clinic.name,
        "site": site,
        "after_days": after_days,
        "patient": _escalation_row(escalation),
    }
