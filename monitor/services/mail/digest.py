"""The nurses' daily digest (one per site per date) and the urgent-flag alert.

A digest that cannot be built, or whose recipients are still the shipped placeholders, is
recorded as a `skipped` row with the reason (under its own dedupe key, so a later cycle for the
same day can still queue the real one) and `monitor status` pages on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.notify.messages import (
    Clinic,
    DigestAlert,
    DigestOverdue,
    DigestUnreachable,
)
from monitor.notify.registry import STAFF_DAILY_DIGEST, STAFF_URGENT_FLAG
from monitor.services.mail.escalation import digest_row, due_escalations
from monitor.services.mail.health import mail_health
from monitor.services.mail.outbox import queued_keys
from monitor.services.mail.queueing import Envelope, queue_message
from monitor.services.mail.readiness import held_line, staff_hold
from monitor.services.mail.unreachable import Unreachable, unreachable
from monitor.services.people.record import sites
from monitor.services.results.alerts import ALERTING, open_alerts
from monitor.services.results.feeds import LateFeed, late_feeds, patients_served_by
from monitor.services.results.flagged import FlaggedResult, FlagView, flag_view
from monitor.services.schedule.chasing import Escalation
from monitor.services.schedule.worklist import OverdueSlot, overdue_slots
from monitor.store.models import Flag, Patient, Result
from monitor.store.queries import OverdueRow

log = logging.getLogger("monitor.daily")

DIGEST = STAFF_DAILY_DIGEST.name  # the outbox's `message` for a digest (cli.operations reads it)
NOT_BUILT = "the digest could not be built"
NOT_BUILT_KEY = "not-built"


def digest_key(site: str, on: date) -> str:
    return STAFF_DAILY_DIGEST.dedupe_key({"site": site, "run_on": on})


@dataclass(frozen=True)
class ClinicDay:
    """What every site's digest of one day reads, read once for the whole clinic: each site's
    digest takes its own patients' rows (every list is ordered by patient-level keys, so a
    site's rows keep their order). Reading these per site cost the cycle an overdue list, the
    open alerts and the escalations per site, besides the cycle's own."""

    overdue: list[OverdueSlot]
    alerts: list[FlaggedResult]
    unreachable: list[Unreachable]
    escalations: Sequence[Escalation]
    late_feeds: list[LateFeed]
    mail_problem: str | None


def read_clinic_day(
    session: Session,
    on: date,
    config: Config,
    now: datetime,
    escalations: Sequence[Escalation] | None = None,
    overdue: Sequence[OverdueRow] | None = None,
) -> ClinicDay:
    """`escalations` and `overdue` (`store.queries.overdue_list` for `on`, the whole clinic)
    when the caller has read them already."""
    quiet = late_feeds(session, config, now)
    feed_late = patients_served_by(session, [feed.source for feed in quiet])
    return ClinicDay(
        overdue=overdue_slots(session, on, config.catalogue, None, feed_late, rows=overdue),
        alerts=open_alerts(session),
        unreachable=unreachable(session, on, None),
        escalations=due_escalations(session, on, config) if escalations is None else escalations,
        late_feeds=quiet,
        mail_problem=mail_problem(session, now),
    )


def queue_digests(
    session: Session,
    *,
    on: date,
    config: Config,
    now: datetime,
    held: int = 0,
    escalations: Sequence[Escalation] | None = None,
    overdue: Sequence[OverdueRow] | None = None,
) -> int:
    """Queue one digest per site for `on` (none twice); returns how many were queued.

    `held` is how many patients' reminders wait for the configuration (the digest says why).
    `escalations` is `due_escalations` for `on` and `overdue` the clinic's overdue list for
    `on` when the caller has read them already. A site whose digest for `on` is queued
    already is passed over before anything is read for it.
    """
    every_site = sites(session)
    hold = staff_hold(config, "staff.digest_to")
    if hold is not None:
        for site in every_site:
            _skip_digest(session, site, on, now, hold, "unconfigured")
        return 0
    sent = queued_keys(session, [digest_key(site, on) for site in every_site])
    day: ClinicDay | None = None
    queued = 0
    for site in every_site:
        if digest_key(site, on) in sent:
            continue
        try:
            with session.begin_nested():
                day = day or read_clinic_day(session, on, config, now, escalations, overdue)
                queued += _queue_digest(session, site, on, config, now, held, day)
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
    session: Session, site: str, on: date, config: Config, now: datetime, held: int, day: ClinicDay
) -> int:
    zone = ZoneInfo(config.clinic.timezone)
    draft = STAFF_DAILY_DIGEST.draft(
        Clinic(config.clinic.name, config.clinic.phone),
        site,
        on,
        overdue=[_overdue_row(r) for r in day.overdue if r.site == site],
        alerts=_digest_alerts(alert for alert in day.alerts if alert.site == site),
        unreachable=_digest_unreachable(u for u in day.unreachable if u.site == site),
        mail_problem=day.mail_problem,
        late_feeds=[feed.describe() for feed in day.late_feeds],
        on_hold=held_line(config, held),
        escalations=[digest_row(e, zone) for e in day.escalations if e.site == site],
        escalate_after_days=config.chasing.escalate_after_days,
    )
    to = Envelope(", ".join(config.staff.digest_to), site=site, run_on=on)
    row = queue_message(session, draft, to=to, now=now, mail_domain=config.mail_domain)
    return row is not None


def _skip_digest(
    session: Session, site: str, on: date, now: datetime, reason: str, tag: str
) -> None:
    to = Envelope("", site=site, run_on=on)
    queue_message(session, STAFF_DAILY_DIGEST, to=to, now=now, skip=reason, tag=tag)


def _overdue_row(r: OverdueSlot) -> DigestOverdue:
    return DigestOverdue(
        r.mrn,
        r.panel,
        r.due_on,
        r.days_overdue,
        r.missed,
        r.open_alert,
        feed_late=r.feed_late,
        protocol=r.protocol,
    )


def _alerts(session: Session, site: str) -> list[DigestAlert]:
    """The site's open urgent and emergency flags, as its digest lists them."""
    return _digest_alerts(open_alerts(session, site))


def _digest_alerts(alerts: Iterable[FlaggedResult]) -> list[DigestAlert]:
    """Open urgent and emergency flags one by one, newest first (the digest lists flags, not
    results: the alert email goes out per flag when it is raised)."""
    flags = [
        (flag, alert.mrn)
        for alert in alerts
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
    return _digest_unreachable(unreachable(session, on, site))


def _digest_unreachable(rows: Iterable[Unreachable]) -> list[DigestUnreachable]:
    return [DigestUnreachable(row.mrn, row.why) for row in rows]


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
        if flag.severity not in ALERTING:
            continue
        patient = session.get_one(Patient, flag.patient_id)
        to = Envelope("", patient_id=patient.id, site=patient.site)
        key = {"flag_id": flag.id}
        if hold is not None:  # the flag stays open on the worklist and in the digest
            queue_message(session, STAFF_URGENT_FLAG, to=to, now=now, skip=hold, key=key)
            continue
        result = session.get_one(Result, flag.result_id)
        alert = _alert(flag_view(flag, result), patient.mrn)
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
