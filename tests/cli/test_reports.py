"""`monitor report adherence` and `monitor report rems` on a generated clinic: the JSON and CSV
shapes, the counts against the pure statuses, the REMS CSV read back with the csv module, and
bad input refused with exit 2 and nothing changed. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from monitor.domain.status import stored_status
from monitor.services.reports.adherence import LATENESS_BINS, ReportBy, outcome_of
from monitor.services.reports.period import ReportFilter
from monitor.store.db import unit_of_work
from monitor.store.models import Slot
from tests.conftest import Cli
from tests.reports_clinic import store_clinic
from tests.services.test_adherence import expected_counts, stored_slots

PERIOD = ("--from", "2024-01-01", "--to", "2025-06-30", "--as-of", "2025-03-15")
ON = date(2025, 3, 15)
COUNT_KEYS = {
    "due", "done", "late", "overdue", "missed", "waived", "cancelled", "open", "assessed",
    "on_time_pct", "completed_pct",
}  # fmt: skip


@pytest.fixture
def clinic(engine: Engine) -> list[Any]:
    store_clinic(engine, seed=2026, size=25)
    return stored_slots(engine)


def as_counts(row: dict[str, Any]) -> tuple[int, ...]:
    names = ("due", "done", "late", "overdue", "missed", "waived", "cancelled", "open")
    return tuple(int(row[name]) for name in names)


def test_the_json_has_the_report_and_its_counts_match_the_pure_statuses(
    cli: Cli, clinic: list[Any]
) -> None:
    data = json.loads(cli.ok("report", "adherence", *PERIOD, "--json"))
    assert set(data) == {
        "from", "to", "as_of", "by", "site", "protocol", "rows", "panel_totals", "total",
        "days_past_due",
    }  # fmt: skip
    assert (data["from"], data["to"], data["as_of"], data["by"]) == (
        "2024-01-01", "2025-06-30", "2025-03-15", "month",
    )  # fmt: skip
    assert all(
        set(row) == {"month", "site", "protocol", "panel"} | COUNT_KEYS for row in data["rows"]
    )
    wanted = ReportFilter(date(2024, 1, 1), date(2025, 6, 30))
    want = expected_counts(clinic, wanted, ON, ReportBy.MONTH)
    got = {
        (row["month"], row["site"], row["protocol"], row["panel"]): as_counts(row)
        for row in data["rows"]
    }
    assert got == {key: as_counts(counts.as_dict()) for key, counts in want.items()}
    assert data["total"]["due"] == sum(row["due"] for row in data["rows"]) > 0
    total = data["total"]
    assessed = total["done"] + total["late"] + total["overdue"] + total["missed"]
    assert total["assessed"] == assessed
    assert total["on_time_pct"] == round(100 * total["done"] / assessed, 1)
    bins = data["days_past_due"]
    assert [b["days"] for b in bins] == [
        "1-7", "8-14", "15-30", "31-60", "61-90", "91-180", "over 180",
    ]  # fmt: skip
    assert len(bins) == len(LATENESS_BINS)
    assert sum(b["late"] for b in bins) == total["late"]
    assert sum(b["not_done"] for b in bins) == total["overdue"] + total["missed"]


def test_by_patient_and_the_csv_say_the_same_as_the_json(cli: Cli, clinic: list[Any]) -> None:
    args = ("report", "adherence", *PERIOD, "--by", "patient", "--site", "north")
    data = json.loads(cli.ok(*args, "--json"))
    assert data["by"] == "patient" and data["site"] == "north"
    assert {row["site"] for row in data["rows"]} == {"north"}
    wanted = ReportFilter(date(2024, 1, 1), date(2025, 6, 30), site="north")
    want = expected_counts(clinic, wanted, ON, ReportBy.PATIENT)
    got = {
        (row["mrn"], row["site"], row["protocol"], row["panel"]): as_counts(row)
        for row in data["rows"]
    }
    assert got == {key: as_counts(counts.as_dict()) for key, counts in want.items()} != {}

    table = list(csv.DictReader(io.StringIO(cli.ok(*args, "--csv"))))
    assert list(table[0]) == ["mrn", "site", "protocol", "panel", *COUNT_KEYS_ORDER]
    assert [(r["mrn"], r["panel"], as_counts(r)) for r in table] == [
        (r["mrn"], r["panel"], as_counts(r)) for r in data["rows"]
    ]
    for row, json_row in zip(table, data["rows"], strict=True):
        pct = json_row["on_time_pct"]
        assert row["on_time_pct"] == ("" if pct is None else str(pct))


COUNT_KEYS_ORDER = [
    "due", "done", "late", "overdue", "missed", "waived", "cancelled", "open", "assessed",
    "on_time_pct", "completed_pct",
]  # fmt: skip


def test_the_table_prints_the_total(cli: Cli, clinic: list[Any]) -> None:
    out = cli.ok("report", "adherence", *PERIOD, "--protocol", "alemtuzumab")
    data = json.loads(cli.ok("report", "adherence", *PERIOD, "--protocol", "alemtuzumab", "--json"))
    total = data["total"]
    assert f"{total['due']} due, {total['done']} done on time of {total['assessed']}" in out
    assert "dimethyl_fumarate" not in out


def test_the_rems_csv_reads_back_one_row_per_patient_and_month(cli: Cli, clinic: list[Any]) -> None:
    text = cli.ok("report", "rems", *PERIOD, "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = list(rows[0])
    assert header[:6] == ["mrn", "site", "month", "protocol", "panels_due", "panels_done"]
    assert header[6:] == ["cbc", "creatinine", "urinalysis", "tsh", "lft", "skin"]
    keys = [(row["mrn"], row["month"]) for row in rows]
    assert len(keys) == len(set(keys)), "one row per patient and month"
    assert {row["protocol"] for row in rows} == {"alemtuzumab"}
    want: Counter[tuple[str, str, str]] = Counter()
    for slot in clinic:
        if slot.protocol != "alemtuzumab" or not date(2024, 1, 1) <= slot.due_on <= date(
            2025, 6, 30
        ):
            continue
        outcome = outcome_of(stored_status(slot, ON)).value
        if outcome == "done":
            words = slot.completed_on.isoformat()
        elif outcome == "late":
            words = f"{slot.completed_on.isoformat()} late"
        else:
            words = outcome
        want[slot.mrn, slot.due_on.strftime("%Y-%m"), f"{slot.panel}={words}"] += 1
    got: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        for panel in header[6:]:
            for words in filter(None, row[panel].split("; ")):
                got[row["mrn"], row["month"], f"{panel}={words}"] += 1
        cells = [w for p in header[6:] for w in filter(None, row[p].split("; "))]
        assert int(row["panels_due"]) == len(cells)
        assert int(row["panels_done"]) == sum(w[:1].isdigit() for w in cells)
    assert got == want and any(words.endswith("late") for _, _, words in got)


def slot_count(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(Slot)) or 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--from", "2025-03-01", "--to", "2025-02-01"), "before it starts"),
        (("--from", "2025-13-01", "--to", "2025-12-31"), "--from '2025-13-01' is not a date"),
        (("--from", "2025-01-01", "--to", "soon"), "--to 'soon' is not a date"),
        (("--from", "2025-01-01", "--to", "2025-02-01", "--site", "atlantis"), "unknown site"),
        (("--from", "2025-01-01", "--to", "2025-02-01", "--protocol", "x"), "unknown protocol"),
        (("--from", "2025-01-01", "--to", "2025-02-01", "--by", "week"), "--by 'week'"),
        (("--from", "2025-01-01", "--to", "2025-02-01", "--json", "--csv"), "cannot be used"),
    ],
)
def test_bad_input_exits_2_naming_it_and_changes_nothing(
    cli: Cli, engine: Engine, clinic: list[Any], args: tuple[str, ...], words: str
) -> None:
    before = slot_count(engine)
    result = cli("report", "adherence", *args)
    assert result.code == 2, result.err
    assert words in result.err and result.out == ""
    assert slot_count(engine) == before


def test_the_rems_list_refuses_bad_input_too(cli: Cli, clinic: list[Any]) -> None:
    result = cli("report", "rems", "--from", "2025-03-01", "--to", "2025-02-01", "--csv")
    assert result.code == 2 and "before it starts" in result.err
    result = cli("report", "rems", "--from", "2025-01-01", "--to", "2025-02-01", "--protocol", "x")
    assert result.code == 2 and "unknown protocol" in result.err
