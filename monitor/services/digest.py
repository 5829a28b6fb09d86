"""The nurses' daily digest (one per site per date) and the urgent-flag alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.rules import Severity
from monitor.notify.messages import (
    Clinic,
    DigestAlert,
    DigestOverdue,
    DigestUnreachable,
    staff_daily_digest_context,
    staff_urgent_flag_context,
)
from monitor.notify.render import render_email
from monitor.services.feeds import late_feeds, patients_served_by
from monitor.services.outbox import queue_email
from monitor.services.unconfirmed import count_unconfirmed
from monitor.store.models import Flag, FlagStatus, OutboxMessage, OutboxStatus, Patient, Result
from monitor.store.queries import open_alert_severity, overdue_list

DIGEST = "staff-daily-digest"
URGENT_FLAG = "staff-urgent-flag"
UNREACHABLE_DAYS = 7


def queue_digests(session: Session, *, on: date, config: Config, now: datetime) -> int:
    """Queue one digest per site for `on` (none twice); returns how many were queued."""
    clinic = Clinic(config.clinic.name, config.clinic.phone)
    problem = mail_problem(session, now)
    quiet = late_feeds(session, config, now)
    feed_late = patients_served_by(session, [feed.source for feed in quiet])
    queued = 0
    for site in session.scalars(select(Patient.site).distinct().order_by(Patient.site)):
        context = staff_daily_digest_context(
            clinic,
            site,
            on,
            overdue=_overdue(session, on, site, config, feed_late),
            alerts=open_alerts(session, site),
            unreachable=_unreachable(session, on, site),
            mail_problem=problem,
            late_feeds=[feed.describe() for feed in quiet],
        )
        rendered = render_email(DIGEST, context)
        row = queue_email(
            session,
            message=DIGEST,
            recipient=", ".join(config.staff.digest_to),
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            calendar=None,
            dedupe_key=f"{DIGEST}:{site}:{on.isoformat()}",
            now=now,
            mail_domain=config.mail_domain,
            site=site,
            run_on=on,
        )
        queued += row is not None
    return queued


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
            OutboxMessage.status.in_([OutboxStatus.SKIPPED, OutboxStatus.FAILED]),
            OutboxMessage.run_on >= since,
            OutboxMessage.run_on <= on,
        )
        .order_by(Patient.mrn)
    )
    seen: dict[str, str] = {}
    for mrn, status, reason, error in rows:
        text = reason if status is OutboxStatus.SKIPPED else f"delivery failed: {error}"
        seen.setdefault(mrn, text or "unknown")
    return [DigestUnreachable(mrn, reason) for mrn, reason in seen.items()]


def mail_problem(session: Session, now: datetime) -> str | None:
    """A line for the digest when email delivery is struggling, else None."""
    retrying = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.attempts > 0
        )
    )
    failed = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.FAILED,
            OutboxMessage.created_at >= now - timedelta(days=1),
        )
    )
    recovered = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.attempts > 1,
            OutboxMessage.sent_at >= now - timedelta(days=1),
        )
    )
    unconfirmed = count_unconfirmed(session)
    if not retrying and not failed and not recovered and not unconfirmed:
        return None
    line = (
        f"Email delivery had problems: {retrying} message(s) waiting to be retried, "
        f"{failed} failed and {recovered} delivered late after retries in the last 24 hours."
    )
    if unconfirmed:
        line += (
            f" {unconfirmed} message(s) were sent but never confirmed by the mail server and may"
            " not have arrived: an administrator checks them (`monitor outbox`)."
        )
    return line


def queue_flag_alerts(
    session: Session, flags: Sequence[Flag], *, config: Config, now: datetime
) -> int:
    """Queue one `staff-urgent-flag` email per new urgent or emergency flag."""
    queued = 0
    clinic = Clinic(config.clinic.name, config.clinic.phone)
    for flag in flags:
        if flag.severity not in (Severity.URGENT, Severity.EMERGENCY):
            continue
        patient = session.get_one(Patient, flag.patient_id)
        result = session.get_one(Result, flag.result_id)
        rendered = render_email(
            URGENT_FLAG,
            staff_urgent_flag_context(clinic, _alert(flag, patient.mrn, result), patient.site),
        )
        row = queue_email(
            session,
            message=URGENT_FLAG,
            recipient=", ".join(config.staff.urgent_to),
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            calendar=None,
            dedupe_key=f"{URGENT_FLAG}:{flag.id}",
            now=now,
            mail_domain=config.mail_domain,
            patient_id=patient.id,
            site=patient.site,
        )
        queued += row is not None
    return queued
