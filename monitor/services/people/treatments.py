"""Starting and stopping a continuous treatment (SPEC §10.3, §10.4); the unit of work rebuilds
the schedule it changes. A `courses` protocol's treatment is made by its first course
(`services.people.courses`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.phases import Kind, ProtocolPlan
from monitor.errors import InvalidInput
from monitor.services.audit import record_change
from monitor.services.schedule.upkeep import MissingProtocol
from monitor.store.db import session_catalogue
from monitor.store.models import Patient, Treatment
from monitor.store.queries import find_patient

REASON_LENGTH = 500


def catalogue_of(session: Session) -> Catalogue:
    """The protocols the unit of work was opened with (a use case that reads protocols runs in
    one that has them: it changes slots)."""
    catalogue = session_catalogue(session)
    if catalogue is None:
        raise MissingProtocol(1)
    return catalogue


def start_treatment(
    session: Session, *, mrn: str, protocol: str, started_on: date, actor: str, now: datetime
) -> int:
    """Start a continuous treatment; its id. Refuses (InvalidInput, nothing written) an unknown
    or `courses` protocol, a second open treatment of the protocol, and a start that is not
    after that protocol's last stop (starting again after a stop is a new treatment)."""
    plan = continuous_plan(catalogue_of(session), protocol, "start")
    patient = find_patient(session, mrn)
    check_start(mrn, plan.id, [t for t in patient.treatments if t.protocol == plan.id], started_on)
    treatment = Treatment(protocol=plan.id, started_on=started_on, created_at=now)
    patient.treatments.append(treatment)
    session.flush()
    _audit(session, patient, treatment, "treatment.start", actor, now, None)
    return treatment.id


def stop_treatment(
    session: Session,
    *,
    mrn: str,
    protocol: str,
    stopped_on: date,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    """Stop the patient's open treatment of a continuous protocol. Refuses (InvalidInput) an
    unknown or `courses` protocol, no open treatment, and a stop before its start (the start
    day itself is allowed: the baseline only)."""
    plan = continuous_plan(catalogue_of(session), protocol, "stop")
    patient = find_patient(session, mrn)
    treatment = next(
        (t for t in patient.treatments if t.protocol == plan.id and t.stopped_on is None), None
    )
    if treatment is None:
        raise InvalidInput(f"{mrn} has no open {plan.id} treatment to stop")
    check_stop(treatment.started_on, stopped_on)
    if reason is not None and len(reason) > REASON_LENGTH:
        raise InvalidInput(f"the reason is over {REASON_LENGTH} characters")
    before = _shown(treatment)
    treatment.stopped_on = stopped_on
    treatment.stop_reason = reason
    session.flush()
    _audit(session, patient, treatment, "treatment.stop", actor, now, before)


class Span(Protocol):
    """A treatment's dates (a stored row, or one read from a caseload file)."""

    @property
    def started_on(self) -> date: ...

    @property
    def stopped_on(self) -> date | None: ...


def check_start(mrn: str, protocol: str, earlier: Iterable[Span], started_on: date) -> None:
    """`start_treatment`'s rule against the patient's `earlier` treatments of the protocol:
    none still open, and the start after the last one's stop (InvalidInput otherwise)."""
    for treatment in earlier:
        if treatment.stopped_on is None:
            raise InvalidInput(
                f"{mrn} already has an open {protocol} treatment (started "
                f"{treatment.started_on}); stop it first"
            )
        if started_on <= treatment.stopped_on:
            raise InvalidInput(
                f"a new {protocol} treatment must start after the last one stopped "
                f"({treatment.stopped_on})"
            )


def check_stop(started_on: date, stopped_on: date) -> None:
    """A stop on or after the start (the start day itself: the baseline only)."""
    if stopped_on < started_on:
        raise InvalidInput(f"stop date {stopped_on} is before the treatment's start ({started_on})")


def continuous_plan(catalogue: Catalogue, protocol: str, verb: str) -> ProtocolPlan:
    """The continuous protocol `protocol`; InvalidInput for a `courses` one (UnknownProtocol
    for an id not configured)."""
    plan = catalogue.plan(protocol)
    if plan.kind is not Kind.CONTINUOUS:
        raise InvalidInput(
            f"protocol {plan.id!r} is given in courses: record a course with "
            f"`course add --protocol {plan.id}`, there is no treatment to {verb}"
        )
    return plan


def _shown(treatment: Treatment) -> dict[str, str | None]:
    return {
        "protocol": treatment.protocol,
        "started_on": treatment.started_on.isoformat(),
        "stopped_on": treatment.stopped_on.isoformat() if treatment.stopped_on else None,
        "reason": treatment.stop_reason,
    }


def _audit(
    session: Session,
    patient: Patient,
    treatment: Treatment,
    action: str,
    actor: str,
    now: datetime,
    before: dict[str, str | None] | None,
) -> None:
    record_change(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="treatment",
        entity_id=treatment.id,
        patient_id=patient.id,
        before=before,
        after=_shown(treatment),
    )
