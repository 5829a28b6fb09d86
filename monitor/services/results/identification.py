"""Which patient an imported result belongs to: the record its MRN names, and only if the
message describes that patient (positive patient identification, issue 10 item 1).

`resolve_patient` finds the one record among the identifiers a message gives. `confirm_identities`
then compares what the message says about its patient (`StatedPatient`: date of birth, family
names) with that record by the rules of `domain.patient_match`, once per patient per message,
before any of its results is taken in. Names and dates of birth never reach a reason or a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.patient_match import IdentityCheck, identity_mismatch
from monitor.errors import InvalidInput
from monitor.services.results.incoming import Parsed, Problem, Skipped, StatedPatient
from monitor.store.models import Patient
from monitor.store.queries import find_patient


def resolve_patient(session: Session, mrns: tuple[str, ...]) -> Patient:
    """The one patient whose MRN is among the identifiers the message gives."""
    wanted = [m.strip() for m in mrns if m.strip()]
    if not wanted:
        raise InvalidInput("no patient identifier (MRN) in the message")
    known = session.scalars(select(Patient.mrn).where(Patient.mrn.in_(wanted))).all()
    if not known:
        raise InvalidInput(f"unknown patient: no patient with MRN {' or '.join(wanted)}")
    if len(set(known)) > 1:
        raise InvalidInput(
            f"ambiguous patient: MRNs {', '.join(sorted(known))} are different patients"
        )
    return find_patient(session, known[0])


def confirm_identities(
    session: Session,
    items: Iterable[Parsed],
    check: IdentityCheck,
    fallback: tuple[str, ...] = (),
) -> Iterator[Parsed]:
    """The items as parsed, except that the items of a message whose date of birth or family
    name disagrees with the record become one whole-message Problem: no result of it is
    stored, and the quarantine keeps the message whole for a retry once the record is right."""
    verdicts: dict[StatedPatient, Problem | None] = {}
    for item in items:
        stated = None if isinstance(item, Skipped) else item.stated
        if stated is None:
            yield item
            continue
        if stated not in verdicts:
            verdict = verdicts[stated] = _identity_problem(session, stated, check, fallback)
            if verdict is not None:
                yield verdict
        if verdicts[stated] is None:
            yield item


def _identity_problem(
    session: Session, stated: StatedPatient, check: IdentityCheck, fallback: tuple[str, ...]
) -> Problem | None:
    """A Problem when the record the MRN names is not the patient the message describes. An
    unknown or ambiguous MRN is left to each item, which says so."""
    if check is IdentityCheck.OFF:
        return None
    try:
        patient = resolve_patient(session, stated.mrns or fallback)
    except InvalidInput:
        return None
    reason = identity_mismatch(
        check,
        stated_born=stated.born,
        stated_families=stated.family_names,
        born_on=patient.born_on,
        name=patient.name,
    )
    if reason is None:
        return None
    return Problem(reason, stated.source, stated.format, stated.raw, whole_message=True)
