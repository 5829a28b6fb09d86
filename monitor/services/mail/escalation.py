"""The `staff-escalation` email: a patient overdue for more than `[chasing]
escalate_after_days` with no successful contact goes to `staff.urgent_to`, once per episode.

Who qualifies is `schedule.chasing.escalations` (the digest lists the same patients). The
dedupe key is the patient and `overdue_since`, the due date of their oldest overdue test: the
daily cycles that follow queue nothing more for that episode, whatever the outcome of the
calls in between. When that test is done, waived or missed and another one keeps the patient
overdue that long, its earlier due date is a new episode and it is sent again. While
`staff.urgent_to` is still the shipped placeholder the escalation is recorded as skipped
beside its key, so the real one goes out once the clinic sets its own addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.notify.messages import Clinic, DigestEscalation
from monitor.notify.registry import STAFF_ESCALATION
from monitor.services.mail.outbox import queued_keys
from monitor.services.mail.queueing import Envelope, queue_message
from monitor.services.mail.readiness import staff_hold
from monitor.services.schedule.chasing import Escalation, escalations
from monitor.store.queries import OverdueRow

UNCONFIGURED = "unconfigured"


def due_escalations(
    session: Session,
    on: date,
    config: Config,
    site: str | None = None,
    overdue: Sequence[OverdueRow] | None = None,
) -> list[Escalation]:
    """The patients to escalate as of `on` under this configuration (one site's, or all);
    `overdue` is that overdue list when the caller has read it already."""
    return escalations(
        session,
        on,
        config.catalogue,
        after_days=config.chasing.escalate_after_days,
        zone=ZoneInfo(config.clinic.timezone),
        site=site,
        rows=overdue,
    )


def digest_row(escalation: Escalation, zone: ZoneInfo) -> DigestEscalation:
    """An escalation as the digest and the email show it (by MRN; the last contact's outcome
    and its day in the clinic's zone)."""
    last = escalation.last
    return DigestEscalation(
        escalation.mrn,
        escalation.overdue_since,
        escalation.days_overdue,
        escalation.panels,
        last.outcome.value if last else None,
        last.contacted_at.astimezone(zone).date() if last else None,
    )


def queue_escalations(
    session: Session,
    *,
    on: date,
    config: Config,
    now: datetime,
    due: Sequence[Escalation] | None = None,
) -> int:
    """Queue one `staff-escalation` per patient and episode not sent yet; how many queued.

    `due` is `due_escalations` for `on` when the caller has read it already (the daily cycle
    reads it once for the digests and for this). An episode already queued is passed over
    before its email is built: most escalations of a day were sent on an earlier day.
    """
    clinic = Clinic(config.clinic.name, config.clinic.phone)
    zone = ZoneInfo(config.clinic.timezone)
    hold = staff_hold(config, "staff.urgent_to")
    found = due_escalations(session, on, config) if due is None else due
    sent = set() if hold is not None else queued_keys(session, [_key(e) for e in found])
    queued = 0
    for escalation in found:
        if _key(escalation) in sent:
            continue
        to = Envelope("", patient_id=escalation.patient_id, site=escalation.site, run_on=on)
        key = {"overdue_since": escalation.overdue_since}
        if hold is not None:
            queue_message(
                session, STAFF_ESCALATION, to=to, now=now, skip=hold, tag=UNCONFIGURED, key=key
            )
            continue
        draft = STAFF_ESCALATION.draft(
            clinic,
            digest_row(escalation, zone),
            escalation.site,
            config.chasing.escalate_after_days,
        )
        row = queue_message(
            session,
            draft,
            to=Envelope(
                ", ".join(config.staff.urgent_to), escalation.patient_id, escalation.site, on
            ),
            now=now,
            mail_domain=config.mail_domain,
            key=key,
        )
        queued += row is not None
    return queued


def _key(escalation: Escalation) -> str:
    """The dedupe key `queue_message` gives this episode's email."""
    parts = {"patient_id": escalation.patient_id, "overdue_since": escalation.overdue_since}
    return STAFF_ESCALATION.dedupe_key(parts)
