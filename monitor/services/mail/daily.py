"""The daily cycle for a clinic date D: decide every reminder and digest, queue them in the outbox.

One transaction: the decisions (notices), the rendered messages (outbox rows) and the run record
commit together or not at all. Idempotent: notices and dedupe keys make a second run for the
same D queue nothing new; an earlier D after a later one is allowed and dedupes the same way.
Delivery happens later (`services.mail.outbox`).

Each reminder goes by the patient's channel (email, letter or SMS; `reminder_route`, with the
letter fallback of `domain.channels`). Every decision not to send leaves an outbox row `skipped`
with its reason (SPEC §5, §9): a patient with no address for their channel, opted out or
stopped; a lower overdue step superseded by a higher one; a due reminder whose date passed
before any cycle could send it. While the configuration still holds the shipped placeholders
nothing is decided for patients (`services.mail.readiness`).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.config import Config, RemindersConfig
from monitor.domain.catalogue import Catalogue
from monitor.domain.channels import Route, route_reminder
from monitor.domain.reminders import (
    Decision,
    NoticeKey,
    SlotState,
    decide_reminders,
    first_name,
)
from monitor.domain.status import stored_status
from monitor.notify import registry
from monitor.notify.messages import Clinic, TestDue
from monitor.services.access.calendars import calendar_link
from monitor.services.mail.digest import queue_digests
from monitor.services.mail.escalation import queue_escalations
from monitor.services.mail.queueing import Envelope, queue_message
from monitor.services.mail.readiness import reminders_hold
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.services.schedule.slots import running_out
from monitor.services.schedule.upkeep import plan_from, prune_changes, touch
from monitor.store.db import dialect_insert, unit_of_work
from monitor.store.models import DailyRun, Notice, Patient, Slot
from monitor.store.slot_predicates import overdue_on, pending_on

log = logging.getLogger("monitor.daily")


@dataclass(frozen=True)
class DailyReport:
    run_on: date
    queued: int
    skipped: int
    set_aside: list[int]
    held: int = 0  # patients whose reminders wait for the clinic's own configuration
    already_ran_at: datetime | None = None  # an earlier cycle for run_on finished then


def run_daily(engine: Engine, *, on: date, config: Config, now: datetime) -> DailyReport:
    """Run the daily cycle for `on` in one transaction and record the run.

    Refuses (StaleSchedules, nothing recorded) while stored slots come from another protocol:
    reminders decided from them would name the wrong tests and dates.
    """
    with unit_of_work(engine, config.catalogue) as session:
        require_current_schedules(session, config.catalogue)
        plan_from(session, on)
        touch(session, running_out(session, on))  # rebuilt before the slots are read
        run, already_ran_at = _start_run(session, on, now)
        tally = queue_patient_reminders(session, on=on, config=config, now=now)
        digests = queue_digests(session, on=on, config=config, now=now, held=tally.held)
        queued = tally.queued + digests
        queued += queue_escalations(session, on=on, config=config, now=now)
        run.queued, run.skipped, run.finished_at = queued, tally.skipped, now
        run.errors, run.set_aside = len(tally.set_aside), tally.set_aside
        prune_changes(session, now)  # the web cache's record of slot changes: a week is kept
    return DailyReport(
        on, queued, tally.skipped, tally.set_aside, tally.held, already_ran_at=already_ran_at
    )


def _start_run(session: Session, on: date, now: datetime) -> tuple[DailyRun, datetime | None]:
    """Take the date's run record, locked until this cycle commits; and when one last finished.

    Insert-if-missing, then a row lock: a second cycle for the same date (`monitor daily` beside
    the daemon) waits here for the first to commit, then sees its notices and queues nothing
    twice. On SQLite `BEGIN IMMEDIATE` already serialises the two.
    """
    session.execute(
        dialect_insert(session, DailyRun)
        .values(run_on=on, started_at=now, queued=0, skipped=0, errors=0)
        .on_conflict_do_nothing(index_elements=["run_on"])
    )
    run = session.scalars(
        select(DailyRun)
        .where(DailyRun.run_on == on)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    already_ran_at = run.finished_at
    run.started_at = now
    session.flush()
    return run, already_ran_at


@dataclass
class Tally:
    queued: int = 0
    skipped: int = 0
    set_aside: list[int] = field(default_factory=list)
    held: int = 0


def queue_patient_reminders(session: Session, *, on: date, config: Config, now: datetime) -> Tally:
    """Decide and queue each patient's reminders as of `on`.

    A patient whose data breaks the cycle is rolled back alone (a savepoint), logged by internal
    id, and set aside for a person to look at; everyone else is still reminded. While the
    configuration holds placeholders nothing is decided, only counted (`Tally.held`).
    """
    reminders = config.reminders
    slots_by_patient = _candidate_slots(
        session, on, reminders.days_before_due, reminders.overdue_days
    )
    already = _notices(session, list(slots_by_patient))
    on_hold = reminders_hold(config) is not None
    tally = Tally()
    for patient_id, states in slots_by_patient.items():
        decisions = _decide(states, on, reminders, already[patient_id])
        if not decisions:
            continue
        if on_hold:
            tally.held += any(decision.send for decision in decisions)
            continue
        try:
            with session.begin_nested():
                patient = session.get_one(Patient, patient_id)
                sent, held = _queue_for_patient(session, patient, decisions, on, config, now)
        except OperationalError:
            raise  # the database itself failed (disk full, read-only, gone): stop the cycle whole
        except Exception as error:
            # The type only: an exception's text (SQL parameters, values) may carry patient data.
            log.error(
                "daily cycle for %s: patient_id=%d set aside (%s)",
                on,
                patient_id,
                type(error).__name__,
            )
            tally.set_aside.append(patient_id)
            continue
        tally.queued, tally.skipped = tally.queued + sent, tally.skipped + held
    return tally


def patient_decisions(
    session: Session, patient_id: int, *, on: date, config: Config
) -> list[Decision]:
    """What the daily cycle for `on` decides about one patient's slots, as if no earlier cycle
    had decided anything: the same candidate slots and the same rules (`monitor preview`)."""
    reminders = config.reminders
    slots = _candidate_slots(session, on, reminders.days_before_due, reminders.overdue_days)
    return _decide(slots.get(patient_id, []), on, reminders, set())


def _decide(
    states: list[SlotState], on: date, reminders: RemindersConfig, already: set[NoticeKey]
) -> list[Decision]:
    return decide_reminders(
        states,
        on=on,
        days_before_due=reminders.days_before_due,
        overdue_days=reminders.overdue_days,
        already=already,
    )


def _candidate_slots(
    session: Session, on: date, days_before_due: int, overdue_days: Sequence[int]
) -> dict[int, list[SlotState]]:
    """Slots that may need a reminder (or a skipped one) on `on`: due soon, in their window
    after the due date, or overdue. Stopped patients too: their skips are recorded."""
    first_step = timedelta(days=min(overdue_days, default=0))
    due_soon = and_(pending_on(Slot, on), Slot.due_on <= on + timedelta(days=days_before_due))
    overdue = and_(overdue_on(Slot, on), Slot.window_end <= on - first_step)
    condition = or_(due_soon, overdue) if overdue_days else due_soon
    rows = session.scalars(select(Slot).where(condition))
    grouped: dict[int, list[SlotState]] = defaultdict(list)
    for slot in rows:
        grouped[slot.patient_id].append(_state(slot, on))
    return grouped


def _state(slot: Slot, on: date) -> SlotState:
    status = stored_status(slot, on)
    return SlotState(slot.panel, slot.due_on, slot.window_end, status, slot.protocol)


def _notices(session: Session, patient_ids: list[int]) -> dict[int, set[NoticeKey]]:
    found: dict[int, set[NoticeKey]] = defaultdict(set)
    if not patient_ids:
        return found
    rows = session.execute(
        select(
            Notice.patient_id, Notice.message, Notice.protocol, Notice.panel, Notice.due_on,
            Notice.step,
        ).where(Notice.patient_id.in_(patient_ids))
    )  # fmt: skip
    for patient_id, message, protocol, panel, due_on, step in rows:
        found[patient_id].add((message, protocol, panel, due_on, step))
    return found


def _queue_for_patient(
    session: Session,
    patient: Patient,
    decisions: list[Decision],
    on: date,
    config: Config,
    now: datetime,
) -> tuple[int, int]:
    """One email per message kind for this patient and run, grouping every slot it covers, and
    one skipped row per message kind and reason for what the rules decided not to send."""
    queued = 0
    by_message: dict[str, list[Decision]] = defaultdict(list)
    not_sent: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for decision in decisions:
        if decision.send:
            by_message[decision.message].append(decision)
        else:
            not_sent[(decision.message, decision.reason or "not sent")].append(decision)
    route = reminder_route(patient, on, config)
    skipped = _record_not_sent(session, patient, route, not_sent, on, now)
    for message, group in by_message.items():
        tests = tests_due(group, config.catalogue)
        row_id, why = _queue_patient_reminder(
            session, patient, route, message, tests, on, config, now
        )
        for decision in group:
            _record_notice(session, patient.id, decision, on, row_id, why)
        queued, skipped = (queued + 1, skipped) if why is None else (queued, skipped + 1)
    return queued, skipped


def tests_due(decisions: Sequence[Decision], catalogue: Catalogue) -> list[TestDue]:
    """The slots an email reminds of, each worded by its panel's `patient_words` (SPEC §10.1:
    the protocol's plain words, never its name)."""
    return [
        TestDue(d.panel, d.due_on, catalogue.panel(d.protocol, d.panel).patient_words)
        for d in decisions
    ]


def _record_not_sent(
    session: Session,
    patient: Patient,
    route: Route,
    not_sent: dict[tuple[str, str], list[Decision]],
    on: date,
    now: datetime,
) -> int:
    """One skipped row per (message, reason), linked from each slot's notice; returns how many."""
    for (message, reason), group in not_sent.items():
        row = queue_message(
            session,
            registry.registered(message),
            to=_envelope(patient, route, on),
            now=now,
            skip=reason,
            tag=_slug(reason),
        )
        for decision in group:
            _record_notice(session, patient.id, decision, on, row.id if row else None, reason)
    return len(not_sent)


def _queue_patient_reminder(
    session: Session,
    patient: Patient,
    route: Route,
    message: str,
    tests: list[TestDue],
    on: date,
    config: Config,
    now: datetime,
) -> tuple[int | None, str | None]:
    """Queue the reminder by its route (email, letter, SMS), or record why it cannot be sent;
    returns (outbox id, skip reason)."""
    clinic = Clinic(config.clinic.name, config.clinic.phone)
    row = queue_message(
        session,
        registry.registered(message).draft(
            first_name(patient.name),
            clinic,
            tests,
            calendar_url=calendar_link(session, patient, config),
        ),
        to=_envelope(patient, route, on),
        now=now,
        mail_domain=config.mail_domain,
        skip=route.reason,
    )
    return (row.id if row else None), route.reason


def _envelope(patient: Patient, route: Route, on: date) -> Envelope:
    return Envelope(
        route.recipient, patient_id=patient.id, site=patient.site, run_on=on, channel=route.channel
    )


def reminder_route(patient: Patient, on: date, config: Config) -> Route:
    """How a patient is reminded on `on` (`domain.channels.route_reminder`), or why not: a
    stopped patient is reminded by no channel."""
    stopped_on = patient.stopped_on
    if stopped_on is not None and stopped_on <= on:
        return Route(patient.channel, "", f"patient {patient.status.value}")
    return route_reminder(
        patient.channel,
        email=patient.email,
        email_opted_out=patient.email_opted_out,
        address=patient.address,
        phone=patient.phone,
        sms_enabled=config.sms.enabled,
    )


def _slug(reason: str) -> str:
    """A reason as a short, stable part of a dedupe key."""
    return re.sub(r"[^a-z0-9]+", "-", reason.lower()).strip("-")[:80]


def _record_notice(
    session: Session,
    patient_id: int,
    decision: Decision,
    on: date,
    outbox_id: int | None,
    reason: str | None,
) -> None:
    session.add(
        Notice(
            patient_id=patient_id,
            protocol=decision.protocol,
            panel=decision.panel,
            due_on=decision.due_on,
            message=decision.message,
            step=decision.step,
            run_on=on,
            outbox_id=outbox_id,
            reason=reason,
        )
    )
