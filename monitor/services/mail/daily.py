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

from sqlalchemy import ColumnElement, Engine, Table, and_, insert, or_, select
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
from monitor.services.mail.escalation import due_escalations, queue_escalations
from monitor.services.mail.queueing import Envelope, queue_message
from monitor.services.mail.readiness import reminders_hold
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.services.schedule.slots import running_out
from monitor.services.schedule.upkeep import plan_from, prune_changes, touch
from monitor.store.db import dialect_insert, plan_each_statement, unit_of_work
from monitor.store.models import DailyRun, Notice, Patient, Slot
from monitor.store.queries import overdue_list
from monitor.store.slot_predicates import overdue_on, pending_on

log = logging.getLogger("monitor.daily")

IDS_PER_QUERY = 1000
NOTICES: Table = Notice.__table__  # type: ignore[assignment]


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
        plan_each_statement(session)
        require_current_schedules(session, config.catalogue)
        plan_from(session, on)
        touch(session, running_out(session, on))  # rebuilt before the slots are read
        run, already_ran_at = _start_run(session, on, now)
        tally = queue_patient_reminders(session, on=on, config=config, now=now)
        # The overdue list and the escalations are read once: the digests list them too.
        overdue = overdue_list(session, on, config.catalogue.panel_ranks())
        due = due_escalations(session, on, config, overdue=overdue)
        queued = tally.queued + queue_digests(
            session, on=on, config=config, now=now, held=tally.held, escalations=due,
            overdue=overdue,
        )  # fmt: skip
        queued += queue_escalations(session, on=on, config=config, now=now, due=due)
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
    slots_by_patient = _candidate_slots(session, on, config)
    already = _notices(session, _candidate_condition(on, config))
    decided = {
        patient_id: decisions
        for patient_id, states in slots_by_patient.items()
        if (decisions := _decide(states, on, reminders, already[patient_id]))
    }
    on_hold = reminders_hold(config) is not None
    # Held here: the session's identity map keeps only weak references, so patients loaded and
    # let go would be read again one query each by `get_one` below.
    loaded = [] if on_hold else _load_patients(session, list(decided))
    tally = Tally()
    for patient_id, decisions in decided.items():
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
    del loaded
    return tally


def patient_decisions(
    session: Session, patient_id: int, *, on: date, config: Config
) -> list[Decision]:
    """What the daily cycle for `on` decides about one patient's slots, as if no earlier cycle
    had decided anything: the same candidate slots and the same rules (`monitor preview`)."""
    slots = _candidate_slots(session, on, config, patient_id)
    return _decide(slots.get(patient_id, []), on, config.reminders, set())


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


def _candidate_condition(on: date, config: Config) -> ColumnElement[bool]:
    """Slots that may need a reminder (or a skipped one) on `on`: due soon, in their window
    after the due date, or overdue (`store.slot_predicates`). Stopped patients too: their
    skips are recorded.

    A slot's window ends at most the catalogue's longest `window_after_days` after its due
    date, so a slot due soon has its window end bounded as well (as `worklist.week_lines`):
    a short range of the open-slots index, not every future slot of the clinic."""
    overdue_days = config.reminders.overdue_days
    first_step = timedelta(days=min(overdue_days, default=0))
    soon = on + timedelta(days=config.reminders.days_before_due)
    latest_end = soon + timedelta(days=config.catalogue.longest_window_after)
    due_soon = and_(pending_on(Slot, on), Slot.due_on <= soon, Slot.window_end <= latest_end)
    overdue = and_(overdue_on(Slot, on), Slot.window_end <= on - first_step)
    return or_(due_soon, overdue) if overdue_days else due_soon


_STATE_COLUMNS = (
    Slot.patient_id, Slot.protocol, Slot.panel, Slot.due_on, Slot.window_start, Slot.window_end,
    Slot.next_window_start, Slot.done_on, Slot.completed_on, Slot.is_waived, Slot.is_cancelled,
)  # fmt: skip


def _candidate_slots(
    session: Session, on: date, config: Config, patient_id: int | None = None
) -> dict[int, list[SlotState]]:
    """The candidate slots of every patient (or one), by patient: only the columns the rules
    read, as rows, not ORM objects (a clinic's first cycle reads tens of thousands)."""
    condition = _candidate_condition(on, config)
    if patient_id is not None:
        condition = and_(Slot.patient_id == patient_id, condition)
    grouped: dict[int, list[SlotState]] = defaultdict(list)
    for slot in session.execute(select(*_STATE_COLUMNS).where(condition)):
        status = stored_status(slot, on)
        grouped[slot.patient_id].append(
            SlotState(slot.panel, slot.due_on, slot.window_end, status, slot.protocol)
        )
    return grouped


def _notices(session: Session, condition: ColumnElement[bool]) -> dict[int, set[NoticeKey]]:
    """The notices already decided for the candidate slots (`condition`), by patient: only
    those can stop a reminder, and a patient's older notices grow with every cycle. No
    DISTINCT: the columns read are the notices' unique key and each joins at most one slot
    (the slots' own unique key), so there is nothing to remove but a sort of every row."""
    found: dict[int, set[NoticeKey]] = defaultdict(set)
    slot_of_notice = and_(
        Slot.patient_id == Notice.patient_id,
        Slot.protocol == Notice.protocol,
        Slot.panel == Notice.panel,
        Slot.due_on == Notice.due_on,
    )
    rows = session.execute(
        select(
            Notice.patient_id, Notice.message, Notice.protocol, Notice.panel, Notice.due_on,
            Notice.step,
        ).join(Slot, slot_of_notice).where(condition)
    )  # fmt: skip
    for patient_id, message, protocol, panel, due_on, step in rows:
        found[patient_id].add((message, protocol, panel, due_on, step))
    return found


def _load_patients(session: Session, patient_ids: Sequence[int]) -> list[Patient]:
    """Load these patients into the session at once (a query per thousand, not one each); the
    caller holds the list for as long as it asks the session for them."""
    loaded: list[Patient] = []
    for start in range(0, len(patient_ids), IDS_PER_QUERY):
        loaded.extend(
            session.scalars(
                select(Patient).where(Patient.id.in_(patient_ids[start : start + IDS_PER_QUERY]))
            )
        )
    return loaded


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
    notices: list[dict[str, object]] = []
    skipped = _record_not_sent(session, patient, route, not_sent, on, now, notices)
    for message, group in by_message.items():
        tests = tests_due(group, config.catalogue)
        row_id, why = _queue_patient_reminder(
            session, patient, route, message, tests, on, config, now
        )
        notices.extend(_notice(patient.id, decision, on, row_id, why) for decision in group)
        queued, skipped = (queued + 1, skipped) if why is None else (queued, skipped + 1)
    if notices:  # one Core executemany: the ORM's insert, even in bulk, cost twice as much
        session.execute(insert(NOTICES), notices)
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
    notices: list[dict[str, object]],
) -> int:
    """One skipped row per (message, reason), linked from each slot's notice (added to
    `notices`); returns how many."""
    for (message, reason), group in not_sent.items():
        row = queue_message(
            session,
            registry.registered(message),
            to=_envelope(patient, route, on),
            now=now,
            skip=reason,
            tag=_slug(reason),
        )
        row_id = row.id if row else None
        notices.extend(_notice(patient.id, decision, on, row_id, reason) for decision in group)
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


def _notice(
    patient_id: int, decision: Decision, on: date, outbox_id: int | None, reason: str | None
) -> dict[str, object]:
    """A `notices` row: this decision about this slot was made on `on`."""
    return {
        "patient_id": patient_id,
        "protocol": decision.protocol,
        "panel": decision.panel,
        "due_on": decision.due_on,
        "message": decision.message,
        "step": decision.step,
        "run_on": on,
        "outbox_id": outbox_id,
        "reason": reason,
    }
