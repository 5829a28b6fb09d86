"""Which patient an imported result belongs to: the record its MRN names, and only if the
message describes that patient (positive patient identification, issue 10 item 1).

`resolve_patient` finds the one record among the identifiers a message gives. `confirm_identities`
then compares what the message says about its patient (`StatedPatient`: date of birth, family
names) with that record by the rules of `domain.patient_match`, once per patient per message,
before any of its results is taken in. Names and dates of birth never reach a reason or a log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.patient_match import IdentityCheck, identity_mismatch
from monitor.errors import InvalidInput
from monitor.services.results.incoming import Parsed, Problem, Skipped, StatedPatient
from monitor.store.models import Patient
from monitor.store.queries import find_patient, find_patients

Resolver = Callable[[tuple[str, ...]], Patient]  # a message's identifiers -> its patient


def resolve_patient(session: Session, mrns: tuple[str, ...]) -> Patient:
    """The one patient whose MRN is among the identifiers the message gives."""
    wanted = _wanted(mrns)
    known = session.scalars(select(Patient.mrn).where(Patient.mrn.in_(wanted))).all()
    return find_patient(session, _the_one(wanted, known))


class PatientDirectory:
    """`resolve_patient` for a whole chunk of a file: every patient its items name is read in
    a few queries up front (`find_patients`), then each message is resolved from memory with
    the same answers and the same refusals (issue 15: five queries a message were a quarter
    of an import)."""

    def __init__(self, session: Session, mrn_sets: Iterable[tuple[str, ...]]) -> None:
        wanted = {mrn for mrns in mrn_sets for mrn in _wanted(mrns, refuse=False)}
        self.by_mrn = find_patients(session, wanted)

    def resolve(self, mrns: tuple[str, ...]) -> Patient:
        wanted = _wanted(mrns)
        known = [mrn for mrn in dict.fromkeys(wanted) if mrn in self.by_mrn]
        return self.by_mrn[_the_one(wanted, known)]


def _wanted(mrns: tuple[str, ...], *, refuse: bool = True) -> list[str]:
    wanted = [m.strip() for m in mrns if m.strip()]
    if refuse and not wanted:
        raise InvalidInput("no patient identifier (MRN) in the message")
    return wanted


def _the_one(wanted: list[str], known: Sequence[str]) -> str:
    """The MRN among `wanted` that names a stored patient (`known`: those that do)."""
    if not known:
        raise InvalidInput(f"unknown patient: no patient with MRN {' or '.join(wanted)}")
    if len(set(known)) > 1:
        raise InvalidInput(
            f"ambiguous patient: MRNs {', '.join(sorted(known))} are different patients"
        )
    return known[0]


def confirm_identities(
    session: Session,
    items: Iterable[Parsed],
    check: IdentityCheck,
    fallback: tuple[str, ...] = (),
    resolve: Resolver | None = None,
) -> Iterator[Parsed]:
    """The items as parsed, except that the items of a message whose date of birth or family
    name disagrees with the record become one whole-message Problem: no result of it is
    stored, and the quarantine keeps the message whole for a retry once the record is right.
    `resolve` finds the record (default `resolve_patient`; a chunk's `PatientDirectory`)."""
    resolve = resolve or partial(resolve_patient, session)
    verdicts: dict[StatedPatient, Problem | None] = {}
    for item in items:
        stated = None if isinstance(item, Skipped) else item.stated
        if stated is None:
            yield item
            continue
        if stated not in verdicts:
            verdict = verdicts[stated] = _identity_problem(resolve, stated, check, fallback)
            if verdict is not None:
                yield verdict
        if verdicts[stated] is None:
            yield item


def _identity_problem(
    resolve: Resolver, stated: StatedPatient, check: IdentityCheck, fallback: tuple[str, ...]
) -> Problem | None:
    """A Problem when the record the MRN names is not the patient the message describes. An
    unknown or ambiguous MRN is left to each item, which says so."""
    if check is IdentityCheck.OFF:
        return None
    try:
        patient = resolve(stated.mrns or fallback)
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
