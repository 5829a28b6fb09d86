"""`monitor preview MESSAGE`: see an email as it would go out, without sending or queueing it.

Sample data by default (no database needed); with `--mrn`, a patient message uses that patient's
first name and the tests the daily cycle for the `--as-of` date would remind them of: the same
candidate slots and rules (`services.mail.daily.patient_decisions`), as if no earlier cycle had
reminded them yet. The subject and text go to the terminal, the HTML to a file that can be
opened in a browser. `--channel letter` writes the letter as it prints (a PDF with its address
page); `--channel sms` shows the text message and its length.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from monitor.cli.context import as_of, reports_errors, state
from monitor.domain.catalogue import Catalogue
from monitor.domain.reminders import TESTS_OVERDUE, Decision, first_name
from monitor.domain.vocabulary import Channel
from monitor.errors import InvalidInput
from monitor.notify.letters import Letter, letters_pdf, render_letter
from monitor.notify.messages import (
    Clinic,
    DigestAlert,
    DigestEscalation,
    DigestOverdue,
    DigestUnreachable,
    TestDue,
)
from monitor.notify.registry import (
    MESSAGES,
    PATIENT_MESSAGES,
    PATIENT_TESTS_DUE,
    PATIENT_TESTS_OVERDUE,
    STAFF_DAILY_DIGEST,
    STAFF_ESCALATION,
    STAFF_URGENT_FLAG,
    Audience,
    Draft,
    registered,
)
from monitor.notify.render import render_email
from monitor.notify.sms import SMS_LIMIT, render_sms
from monitor.services.mail.daily import patient_decisions, tests_due
from monitor.services.people.record import patient_ref
from monitor.services.schedule.view import next_due_on

SAMPLE_FIRST_NAME = "Alex"
SAMPLE_ADDRESS = "Alex Sample\n1 Example Street\nExampletown\nEX1 2MP"  # a preview's envelope page


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
    channel: Annotated[
        Channel, typer.Option("--channel", help="a patient reminder as a letter (PDF) or an SMS")
    ] = Channel.EMAIL,
) -> None:
    """Render a message with sample data (or a patient's) and write its HTML to a file."""
    try:
        entry = registered(message)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if mrn is not None and entry.audience is not Audience.PATIENT:
        raise InvalidInput(f"--mrn applies to {' and '.join(PATIENT_MESSAGES)} only")
    if channel is not Channel.EMAIL and entry.audience is not Audience.PATIENT:
        raise InvalidInput(f"--channel applies to {' and '.join(PATIENT_MESSAGES)} only")
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    clinic = Clinic(app_state.config.clinic.name, app_state.config.clinic.phone)
    if mrn is None:
        draft = _SAMPLES[message](clinic, on)
    else:
        with app_state.session(current_schedules=True) as session:
            patient = patient_ref(session, mrn)
            decisions = patient_decisions(session, patient.id, on=on, config=app_state.config)
            tests = _reminded(decisions, message, app_state.config.catalogue)
            if not tests:
                raise InvalidInput(_nothing_sent(session, patient.id, patient.mrn, message, on))
        draft = entry.draft(first_name(patient.name), clinic, tests)
    if channel is not Channel.EMAIL:
        preview_other(draft, channel, on, out)
        return
    rendered = render_email(message, draft.context())
    path = out if out is not None else Path(f"preview-{message}.html")
    try:
        path.write_text(rendered.html, encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"--out {path}: cannot write it ({error.strerror or error})") from None
    typer.echo(f"Subject: {rendered.subject}\n")
    typer.echo(rendered.text)
    typer.echo(f"HTML written to {path}")


def preview_other(draft: Draft, channel: Channel, on: date, out: Path | None) -> None:
    """The SMS text (and its length) on the terminal, or the letter as the PDF it prints as."""
    message = draft.message.name
    if channel is Channel.SMS:
        text = render_sms(message, draft.sms_context())
        typer.echo(f"{text}\n({len(text)} of {SMS_LIMIT} characters)")
        return
    letter = Letter(SAMPLE_ADDRESS, render_letter(message, draft.context(), on=on))
    path = out if out is not None else Path(f"preview-{message}.pdf")
    try:
        path.write_bytes(letters_pdf([letter]))
    except OSError as error:
        raise InvalidInput(f"--out {path}: cannot write it ({error.strerror or error})") from None
    typer.echo(f"Letter (address page, then the letter) written to {path}")


def _reminded(decisions: list[Decision], message: str, catalogue: Catalogue) -> list[TestDue]:
    """The tests one email of `message` would name: the daily cycle's decisions to send it."""
    return tests_due([d for d in decisions if d.send and d.message == message], catalogue)


def _nothing_sent(session: Session, patient_id: int, mrn: str, message: str, on: date) -> str:
    """Why the cycle for `on` sends the patient none of `message`, and what to preview instead."""
    if message == TESTS_OVERDUE:
        return f"{mrn} has no overdue tests as of {on}"
    next_on = next_due_on(session, patient_id, on)
    if next_on is None:
        return f"{mrn} has no tests coming up as of {on}"
    return (
        f"the daily cycle of {on} sends {mrn} no due reminder (one goes out in the days just "
        f"before a due date); their next tests are due {next_on}: "
        f"`--as-of {next_on}` previews that reminder"
    )


def sample_context(message: str, clinic: Clinic, on: date) -> dict[str, Any]:
    """Made-up but realistic data for `message` around the date `on`."""
    return _SAMPLES[message](clinic, on).context()


def _sample_due(clinic: Clinic, on: date) -> Draft:
    due_on = on + timedelta(days=7)
    due = ("cbc", "creatinine", "urinalysis", "tsh", "lft")
    return PATIENT_TESTS_DUE.draft(SAMPLE_FIRST_NAME, clinic, [TestDue(p, due_on) for p in due])


def _sample_overdue(clinic: Clinic, on: date) -> Draft:
    due_on = on - timedelta(days=10)
    late = ("cbc", "creatinine", "urinalysis", "lft")
    return PATIENT_TESTS_OVERDUE.draft(
        SAMPLE_FIRST_NAME, clinic, [TestDue(p, due_on) for p in late]
    )


def _sample_urgent_flag(clinic: Clinic, on: date) -> Draft:
    return STAFF_URGENT_FLAG.draft(clinic, _sample_alert(on), "main")


def _sample_digest(clinic: Clinic, on: date) -> Draft:
    overdue = [
        DigestOverdue("S0002", "cbc", on - timedelta(days=40), 33, 1, "urgent"),
        DigestOverdue("S0003", "tsh", on - timedelta(days=30), 16, 0, None),
        DigestOverdue("S0004", "urinalysis", on - timedelta(days=12), 5, 0, None),
    ]
    unreachable = [
        DigestUnreachable("S0005", "no email address"),
        DigestUnreachable("S0006", "opted out of email"),
    ]
    return STAFF_DAILY_DIGEST.draft(clinic, "main", on, overdue, [_sample_alert(on)], unreachable)


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


def _sample_escalation(clinic: Clinic, on: date) -> Draft:
    since = on - timedelta(days=30)
    row = DigestEscalation("S0007", since, 30, ("cbc", "creatinine"), "no-answer", on)
    return STAFF_ESCALATION.draft(clinic, row, "main", 21)


_SAMPLES: dict[str, Callable[[Clinic, date], Draft]] = {
    PATIENT_TESTS_DUE.name: _sample_due,
    PATIENT_TESTS_OVERDUE.name: _sample_overdue,
    STAFF_DAILY_DIGEST.name: _sample_digest,
    STAFF_URGENT_FLAG.name: _sample_urgent_flag,
    STAFF_ESCALATION.name: _sample_escalation,
}


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
