"""The nurses' daily digest (one per site per date) and the urgent-flag alert.

A digest that cannot be built, or whose recipients are still the shipped placeholders, is
recorded as a `skipped` row with the reason (under its own dedupe key, so a later cycle for the
same day can still queue the real one) and `monitor status` pages on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.reminders import is_timing_skip
from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus, OutboxStatus
from monitor.notify.messages import Clinic, DigestAlert, DigestOverdue, DigestUnreachable
from monitor.notify.registry import PATIENT_MESSAGES, STAFF_DAILY_DIGEST, STAFF_URGENT_FLAG
from monitor.services.mail.health import mail_health
from monitor.services.mail.queueing import Envelope, queue_message
from monitor.services.mail.readiness import held_line, staff_hold
from monitor.services.results.feeds import late_feeds, patients_served_by
from monitor.store.models import Flag, OutboxMessage, Patient, Result
from monitor.store.queries import open_alert_severity, overdue_list

log = logging.getLogger("monitor.daily")

DIGEST = STAFF_DAILY_DIGEST.name  # the outbox's `message` for a digest (cli.operations reads it)
UNREACHABLE_DAYS = 7
NOT_BUILT = "the digest could not be built"
NOT_BUILT_KEY = "not-built"


def digest_key(site: str, on: date) -> str:
    return STAFF_DAILY_DIGEST.dedupe_key({"site": site, "run_on": on})


def queue_digests(
    session: Session, *, on: date, config: Config, now: datetime, held: int = 0
) -> int:
    """Queue one digest per site for `on` (none twice); returns how many were queued.

    `held` is how many patients' reminders wait for the configuration (the digest says why).
    """
    queued = 0
    for site in session.scalars(select(Patient.site).distinct().order_by(Patient.site)):
        hold = staff_hold(config, "staff.digest_to")
        if hold is not None:
            _skip_digest(session, site, on, now, hold, "unconfigured")
            continue
        try:
            with session.begin_nested():
                queued += _queue_digest(session, site, on, config, now, held)
        except OperationalError:
            raise  # the database itself failed (disk full, read-only, gone): stop the cycle whole
        except Exception as error:
            # The type only: an exception's text may carry patient data (values, MRNs).
            log.error(
                "daily digest for site %s on %s not built (%s)", site, on, type(error).__name__
            )
            reason = f"{NOT_BUILT} ({type(error).__name__})"
            _skip_digest(session, site, on, now, reason, NOT_BUILT_KEY)
    return queued


def _queue_digest(
    session: Session, site: str, on: date, config: Config, now: datetime, held: int
) -> int:
    quiet = late_feeds(session, config, now)
    feed_late = patients_served_by(session, [feed.source for feed in quiet])
    draft = STAFF_DAILY_DIGEST.draft(
        Clinic(config.clinic.name, config.clinic.phone),
        site,
        on,
        overdue=_overdue(session, on, site, config, feed_late),
        alerts=open_alerts(session, site),
        unreachable=_unreachable(session, on, site),
        mail_problem=mail_problem(session, now),
        late_feeds=[feed.describe() for feed in quiet],
        on_hold=held_line(config, held),
    )
    to = Envelope(", ".join(config.staff.digest_to), site=site, run_on=on)
    row = queue_message(session, draft, to=to, now=now, mail_domain=config.mail_domain)
    return row is not None


def _skip_digest(
    session: Session, site: str, on: date, now: datetime, reason: str, tag: str
) -> None:
    to = Envelope("", site=site, run_on=on)
    queue_message(session, STAFF_DAILY_DIGEST, to=to, now=now, skip=reason, tag=tag)


def _overdue(
    session: Session, on: date, site: str, config: Config, feed_late: set[int]
) -> list[DigestOverdue]:
    rows = overdue_list(session, on, config.monitoring_protocol.panel_names, site)
    alerts = open_alert_severity(session, {r.patient_id for r in rows})
    return [
        DigestOverdue(
            r.mrn,
            r.panel,
            r.due_on,
            r.days_overdue,
            r.missed,
            alerts.get(r.patient_id),
            feed_late=r.patient_id in feed_late,
        )
        for r in rows
    ]


def open_alerts(session: Session, site: str | None) -> list[DigestAlert]:
    """Open urgent and emergency flags, most recent first."""
    query = (
        select(Flag, Patient.mrn, Result)
        .join(Patient, Patient.id == Flag.patient_id)
        .join(Result, Result.id == Flag.result_id)
        .where(
            Flag.status == FlagStatus.OPEN,
            Flag.severity.in_([Severity.URGENT, Severity.EMERGENCY]),
        )
        .order_by(Flag.id.desc())
    )
    if site is not None:
        query = query.where(Patient.site == site)
    return [_alert(flag, mrn, result) for flag, mrn, result in session.execute(query)]


def _alert(flag: Flag, mrn: str, result: Result) -> DigestAlert:
    return DigestAlert(
        flag.id,
        mrn,
        flag.severity.value,
        result.analyte,
        result.value,
        result.unit,
        result.collected_on,
        flag.message,
    )


def _unreachable(session: Session, on: date, site: str) -> list[DigestUnreachable]:
    """Patients whose reminders could not go out in the last week, and why."""
    since = on - timedelta(days=UNREACHABLE_DAYS - 1)
    rows = session.execute(
        select(Patient.mrn, OutboxMessage.status, OutboxMessage.reason, OutboxMessage.last_error)
        .join(Patient, Patient.id == OutboxMessage.patient_id)
        .where(
            Patient.site == site,
            OutboxMessage.message.in_(PATIENT_MESSAGES),
            OutboxMessage.status.in_([OutboxStatus.SKIPPED, OutboxStatus.FAILED]),
            OutboxMessage.run_on >= since,
            OutboxMessage.run_on <= on,
        )
        .order_by(Patient.mrn)
    )
    seen: dict[str, str] = {}
    for mrn, status, reason, error in rows:
        if status is OutboxStatus.SKIPPED and is_timing_skip(reason):
            continue  # the patient was reminded (or will be): a rule's choice, not unreachable
        text = reason if status is OutboxStatus.SKIPPED else f"delivery failed: {error}"
        seen.setdefault(mrn, text or "unknown")
    return [DigestUnreachable(mrn, reason) for mrn, reason in seen.items()]


def mail_problem(session: Session, now: datetime) -> str | None:
    """A line for the digest when email delivery is struggling, else None."""
    health = mail_health(session, now)
    if not (health.retrying or health.failed or health.recovered or health.unconfirmed):
        return None
    line = (
        f"Email delivery had problems: {health.retrying} message(s) waiting to be retried, "
        f"{health.failed} failed and {health.recovered} delivered late after retries in the "
        "last 24 hours."
    )
    if health.unconfirmed:
        line += (
            f" {health.unconfirmed} message(s) were sent but never confirmed by the mail server"
            " and may not have arrived: an administrator checks them (`monitor outbox`)."
        )
    return line


def queue_flag_alerts(
    session: Session, flags: Sequence[Flag], *, config: Config, now: datetime
) -> int:
    """Queue one `staff-urgent-flag` email per new urgent or emergency flag."""
    queued = 0
    clinic = Clinic(config.clinic.name, config.clinic.phone)
    hold = staff_hold(config, "staff.urgent_to")
    for flag in flags:
        if flag.severity not in (Severity.URGENT, Severity.EMERGENCY):
            continue
        patient = session.get_one(Patient, flag.patient_id)
        to = Envelope("", patient_id=patient.id, site=patient.site)
        key = {"flag_id": flag.id}
        if hold is not None:  # the flag stays open on the worklist and in the digest
            queue_message(session, STAFF_URGENT_FLAG, to=to, now=now, skip=hold, key=key)
            continue
        result = session.get_one(Result, flag.result_id)
        alert = _alert(flag, patient.mrn, result)
        row = queue_message(
            session,
            STAFF_URGENT_FLAG.draft(clinic, alert, patient.site),
            to=replace(to, recipient=", ".join(config.staff.urgent_to)),
            now=now,
            mail_domain=config.mail_domain,
            key=key,
        )
        queued += row is not None
    return queued
