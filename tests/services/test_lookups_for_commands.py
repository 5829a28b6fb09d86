"""The small reads commands make: who an MRN names, and the quarantine as plain rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from monitor.domain.vocabulary import QuarantineStatus
from monitor.errors import NotFound
from monitor.services.people.patients import add_patient
from monitor.services.people.record import PatientRef, patient_ref
from monitor.services.results.imports import quarantine_problem
from monitor.services.results.incoming import Problem
from monitor.services.results.quarantine import drop_item
from monitor.services.results.quarantined import quarantine_list
from monitor.store.db import unit_of_work

NOW = datetime(2026, 3, 20, 9, tzinfo=UTC)


def test_patient_ref_names_the_patient_or_says_the_mrn_is_unknown(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        add_patient(session, mrn="M1", name="Pat Test", email=None, born_on=None, sex="F",
                    site="main", actor="test", now=NOW)  # fmt: skip
    with unit_of_work(engine) as session:
        ref = patient_ref(session, " M1 ")
        assert ref == PatientRef(ref.id, "M1", "Pat Test")
        with pytest.raises(NotFound, match="unknown MRN 'M2'"):
            patient_ref(session, "M2")


def test_quarantine_entries_are_open_items_oldest_first_or_all(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        ids = [
            quarantine_problem(session, Problem(reason, "CITY-LAB", "csv", "raw"), NOW + step)
            for reason, step in (("first", timedelta(0)), ("second", timedelta(minutes=1)))
        ]
        drop_item(session, ids[0], reason="duplicate", actor="test", now=NOW)
    with unit_of_work(engine) as session:
        (open_one,) = quarantine_list(session, "open", oldest_first=True, limit=None)
        every = quarantine_list(session, oldest_first=True, limit=None)
    assert (open_one.id, open_one.reason, open_one.status) == (
        ids[1],
        "second",
        QuarantineStatus.OPEN,
    )
    assert [(e.id, e.status, e.resolution) for e in every] == [
        (ids[0], QuarantineStatus.DROPPED, "duplicate"),
        (ids[1], QuarantineStatus.OPEN, None),
    ]
    assert (every[1].source, every[1].format, every[1].raw) == ("CITY-LAB", "csv", "raw")
    assert every[1].received_at == NOW + timedelta(minutes=1)
