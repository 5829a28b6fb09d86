"""The dates a treatment marks on the patient page's grid and charts: each infusion of a
`courses` treatment, the start and stop of a continuous one (SPEC §10, issue 13 item 4).

Read from the record's `TreatmentView`s, so the grid, the charts and the record box show the
same dates. The words name the protocol by its display name (staff only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum

from monitor.domain.catalogue import Catalogue
from monitor.domain.phases import Kind
from monitor.domain.treatments import Treatment, treatment_end
from monitor.services.people.record import TreatmentView


class EventKind(Enum):
    INFUSION = "infusion"
    START = "start"
    STOP = "stop"


@dataclass(frozen=True)
class Event:
    """One date on a treatment's timeline; `course` is the course number of an infusion."""

    on: date
    kind: EventKind
    protocol: str
    name: str
    course: int | None = None

    @property
    def words(self) -> str:
        """The tooltip: what happened, under which protocol, on which day."""
        if self.kind is EventKind.INFUSION:
            return f"{self.name}: course {self.course}, dose {self.on.isoformat()}"
        verb = "started" if self.kind is EventKind.START else "stopped"
        return f"{self.name}: {verb} {self.on.isoformat()}"


def treatment_events(treatment: TreatmentView) -> list[Event]:
    """The doses of a courses treatment (by course), or a continuous one's start and stop."""
    name, protocol = treatment.name, treatment.protocol
    if treatment.kind == Kind.COURSES.value:
        return [
            Event(day, EventKind.INFUSION, protocol, name, number)
            for number, course in enumerate(treatment.courses, start=1)
            for day in course.dates
        ]
    events = [Event(treatment.started_on, EventKind.START, protocol, name)]
    if treatment.stopped_on is not None:
        events.append(Event(treatment.stopped_on, EventKind.STOP, protocol, name))
    return events


def all_events(treatments: Sequence[TreatmentView]) -> list[Event]:
    """Every treatment's events, in date order (the charts draw them all)."""
    return sorted(
        (event for treatment in treatments for event in treatment_events(treatment)),
        key=lambda event: event.on,
    )


def ends_on(treatment: TreatmentView, catalogue: Catalogue) -> date | None:
    """When this treatment's monitoring ends (`domain.treatments.treatment_end`), or None while
    it is open-ended or has no course left."""
    if treatment.kind == Kind.COURSES.value and not treatment.courses:
        return None
    plan = catalogue.plan(treatment.protocol)
    given = Treatment(
        treatment.protocol, treatment.started_on, treatment.stopped_on, treatment.courses
    )
    return treatment_end(given, plan)
