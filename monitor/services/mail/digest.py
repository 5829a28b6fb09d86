"""The nurses' daily digest (one per site per date) and the urgent-flag alert.

A digest that cannot be built, or whose recipients are still the shipped placeholders, is
recorded as a `skipped` row with the reason (under its own dedupe key, so a later cycle for the
same day can still queue the real one) and `monitor status` pages on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.rules import Severity
from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.messages import (
    Clinic,
    DigestAlert,
    DigestOverdue,
    DigestUnreachable,
    staff_daily_digest_context,
    staff_urgent_flag_context,
)
from monitor.notify.render import render_email
from monitor.services.mail.outbox import queue_email, record_skipped
from monitor.services.mail.readiness import held_line, staff_hold
from monitor.services.mail.unconfirmed import count_unconfirmed
from monitor.services.mail.unreachable import unreachable
from monitor.services.results.alerts import ALERTING, alert_levels, open_alerts
from monitor.services.results.feeds import late_feeds, patients_served_by
from monitor.services.results.flagged import FlagView, flag_view
from monitor.store.models import Flag, OutboxMessage, Patient, Result
from monitor.store.queries import overdue_list

log = logging.getLogger("monitor.daily")

DIGEST = "staff-daily-digest"
URGENT_FLAG = "staff-urgent-flag"
NOT_BUILT = "the digest could not be built"
NOT_BUILT_KEY = "not-built"


def digest_key(site: str, on: date) -> str:
    return f"{DIGEST}:{site}:{on.isoformat()}"


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
    context = staff_daily_digest_context(
        Clinic(config.clinic.name, config.clinic.phone),
        site,
        on,
        overdue=_overdue(session, on, site, config, feed_late),
        alerts=_alerts(session, site),
        unreachable=_unreachable(session, on, site),
        mail_problem=mail_problem(session, now),
        late_feeds=[feed.describe() for feed in quiet],
        on_hold=held_line(config, held),
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
        dedupe_key=digest_key(site, on),
        now=now,
        mail_domain=config.mail_domain,
        site=site,
        run_on=on,
    )
    return row is not None


def _skip_digest(
    session: Session, site: str, on: date, now: datetime, reason: str, tag: str
) -> None:
    record_skipped(
        session,
        message=DIGEST,
        recipient="",
        reason=reason,
        dedupe_key=f"{digest_key(site, on)}:skipped:{tag}",
        now=now,
        site=site,
        run_on=on,
    )


def _overdue(
    session: Session, on: date, site: str, config: Config, feed_late: set[int]
) -> list[DigestOverdue]:
    rows = overdue_list(session, on, config.monitoring_protocol.panel_names, site)
    alerts = alert_levels(open_alerts(session, site))
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


def _alerts(session: Session, site: str) -> list[DigestAlert]:
    """The site's open urgent and emergency flags one by one, newest first (the digest lists
    flags, not results: the alert email goes out per flag when it is raised)."""
    flags = [
        (flag, alert.mrn)
        for alert in open_alerts(session, site)
        for flag in alert.group.flags
        if flag.severity in ALERTING
    ]
    return [_alert(flag, mrn) for flag, mrn in sorted(flags, key=lambda pair: -pair[0].id)]


def _alert(flag: FlagView, mrn: str) -> DigestAlert:
    result = flag.result
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
    return [DigestUnreachable(row.mrn, row.why) for row in unreachable(session, on, site)]


def mail_problem(session: Session, now: datetime) -> str | None:
    """A line for the digest when email delivery is struggling, else None."""
    retrying = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.attempts > 0
        )
    )
    failed = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.FAILED, failed_since(now - timedelta(days=1))
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


def failed_since(since: datetime) -> ColumnElement[bool]:
    """Rows marked failed at or after `since` (rows older than the column: by creation)."""
    return func.coalesce(OutboxMessage.failed_at, OutboxMessage.created_at) >= since


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
        if hold is not None:  # the flag stays open on the worklist and in the digest
            record_skipped(session, message=URGENT_FLAG, recipient="", reason=hold,
                           dedupe_key=f"{URGENT_FLAG}:{flag.id}", now=now,
                           patient_id=patient.id, site=patient.site)  # fmt: skip
            continue
        result = session.get_one(Result, flag.result_id)
        rendered = render_email(
            URGENT_FLAG,
            staff_urgent_flag_context(
                clinic, _alert(flag_view(flag, result), patient.mrn), patient.site
            ),
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
