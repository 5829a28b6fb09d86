"""`monitor preview MESSAGE`: see an email as it would go out, without sending or queueing it.

Sample data by default (no database needed); with `--mrn`, a patient message uses that patient's
first name and their next due (or overdue) tests. The subject and text go to the terminal, the
HTML to a file that can be opened in a browser.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.context import as_of, reports_errors, state
from monitor.domain.reminders import first_name
from monitor.domain.status import SlotStatus
from monitor.errors import InvalidInput
from monitor.notify.messages import (
    Clinic,
    DigestAlert,
    DigestOverdue,
    DigestUnreachable,
    TestDue,
    patient_tests_due_context,
    patient_tests_overdue_context,
    staff_daily_digest_context,
    staff_urgent_flag_context,
)
from monitor.notify.render import MESSAGES, render_email
from monitor.services.people.patients import patient_ref
from monitor.services.schedule.view import ScheduleView, patient_schedule

PATIENT_MESSAGES = ("patient-tests-due", "patient-tests-overdue")
SAMPLE_FIRST_NAME = "Alex"
_OPEN = (SlotStatus.DUE, SlotStatus.UPCOMING)


@reports_errors
def preview(
    ctx: typer.Context,
    message: Annotated[str, typer.Argument(help=f"one of: {', '.join(MESSAGES)}")],
    mrn: Annotated[
        str | None, typer.Option("--mrn", help="use this patient's name and tests")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file (default ./preview-MESSAGE.html)")
    ] = None,
    as_of_date: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
) -> None:
    """Render a message with sample data (or a patient's) and write its HTML to a file."""
    if message not in MESSAGES:
        raise InvalidInput(f"unknown message {message!r}; known: {', '.join(MESSAGES)}")
    if mrn is not None and message not in PATIENT_MESSAGES:
        raise InvalidInput(f"--mrn applies to {' and '.join(PATIENT_MESSAGES)} only")
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    clinic = Clinic(app_state.config.clinic.name, app_state.config.clinic.phone)
    if mrn is None:
        context = sample_context(message, clinic, on)
    else:
        with app_state.session(current_schedules=True) as session:
            name = patient_ref(session, mrn).name
            view = patient_schedule(session, mrn, on, app_state.config.monitoring_protocol)
        context = patient_context(message, clinic, first_name(name), view, on)
    rendered = render_email(message, context)
    path = out if out is not None else Path(f"preview-{message}.html")
    try:
        path.write_text(rendered.html, encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"--out {path}: cannot write it ({error.strerror or error})") from None
    typer.echo(f"Subject: {rendered.subject}\n")
    typer.echo(rendered.text)
    typer.echo(f"HTML written to {path}")


def patient_context(
    message: str, clinic: Clinic, name: str, view: ScheduleView, on: date
) -> dict[str, Any]:
    """The patient's overdue tests, or the tests of their next due date."""
    if message == "patient-tests-overdue":
        slots = [s for s in view.slots if s.status is SlotStatus.OVERDUE]
        if not slots:
            raise InvalidInput(f"{view.mrn} has no overdue tests as of {on}")
        return patient_tests_overdue_context(
            name, clinic, [TestDue(s.panel, s.due_on) for s in slots]
        )
    open_slots = [s for s in view.slots if s.status in _OPEN]
    if not open_slots:
        raise InvalidInput(f"{view.mrn} has no tests coming up as of {on}")
    next_on = min(s.due_on for s in open_slots)
    tests = [TestDue(s.panel, s.due_on) for s in open_slots if s.due_on == next_on]
    return patient_tests_due_context(name, clinic, tests)


def sample_context(message: str, clinic: Clinic, on: date) -> dict[str, Any]:
    """Made-up but realistic data for `message` around the date `on`."""
    if message == "patient-tests-due":
        due_on = on + timedelta(days=7)
        due = ("cbc", "creatinine", "urinalysis", "tsh", "lft")
        return patient_tests_due_context(
            SAMPLE_FIRST_NAME, clinic, [TestDue(p, due_on) for p in due]
        )
    if message == "patient-tests-overdue":
        due_on = on - timedelta(days=10)
        late = ("cbc", "creatinine", "urinalysis", "lft")
        return patient_tests_overdue_context(
            SAMPLE_FIRST_NAME, clinic, [TestDue(p, due_on) for p in late]
        )
    alert = _sample_alert(on)
    if message == "staff-urgent-flag":
        return staff_urgent_flag_context(clinic, alert, "main")
    overdue = [
        DigestOverdue("S0002", "cbc", on - timedelta(days=40), 33, 1, "urgent"),
        DigestOverdue("S0003", "tsh", on - timedelta(days=30), 16, 0, None),
        DigestOverdue("S0004", "urinalysis", on - timedelta(days=12), 5, 0, None),
    ]
    unreachable = [
        DigestUnreachable("S0005", "no email address"),
        DigestUnreachable("S0006", "opted out of email"),
    ]
    return staff_daily_digest_context(clinic, "main", on, overdue, [alert], unreachable)


def _sample_alert(on: date) -> DigestAlert:
    return DigestAlert(
        flag_id=1,
        mrn="S0001",
        severity="urgent",
        analyte="platelets",
        value="72",
        unit="10^9/L",
        collected_on=on - timedelta(days=1),
        message="Platelets 72 x10^9/L, below 100 (urgent).",
    )


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
