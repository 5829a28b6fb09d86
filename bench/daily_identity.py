"""Check: the daily cycle's outbox and notices, byte for byte, before and after a change.

    python bench/daily_identity.py --write /tmp/identity.json            # on the code before
    python bench/daily_identity.py --check /tmp/identity.json            # on the code after
    python bench/daily_identity.py --check /tmp/identity.json --database-url postgresql://...

A small synthetic clinic (`bench_schedule.py`'s generator, the mixed protocols), made varied
on purpose: patients without an email (letters), without any address (skips), opted out,
reminded by SMS, with a live calendar link, with names that need escaping, with logged calls
(escalations with a last contact), stopped. Then seven cycles, the mail of each "sent" (and a
few failed, so the digests speak of mail problems) before the next: the clinic's first cycle
(the catch-up), the next day twice, the day after, two days later, a week later, a month
later. Every outbox row (every column), every notice and every run record is dumped in id
order, as JSON. `--write` stores the dump; `--check` compares and prints the first difference.

The only randomness in a cycle's output is each email's Message-ID (`make_msgid`), each SMS's
reference (`uuid4`) and the calendar key; all are made deterministic here (counters, a fixed
key), so the dumps of two runs of the same code are identical. The SQLite file (or the
PostgreSQL database, emptied first) is this script's own.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import tempfile
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text, update

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_schedule import BENCH_CONFIG, load_clinic  # noqa: E402

import monitor.notify.mime as mime  # noqa: E402
import monitor.services.access.calendars as calendars  # noqa: E402
from monitor.config import Config, load_config  # noqa: E402
from monitor.domain.vocabulary import Channel, ContactOutcome, OutboxStatus  # noqa: E402
from monitor.services.access.calendars import issue_calendar  # noqa: E402
from monitor.services.mail.daily import run_daily  # noqa: E402
from monitor.services.people.contacts import record_contact  # noqa: E402
from monitor.services.schedule.fingerprints import rebuild_schedules  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.models import Base, OutboxMessage, Patient  # noqa: E402

D = date(2026, 11, 27)
CYCLES = (-1, 0, 0, 1, 3, 7, 30)  # days from D; the catch-up first, D twice
CONFIG_EXTRA = """
[sms]
enabled = true
template_id = "11111111-2222-3333-4444-555555555555"

[web]
public_url = "https://monitor.clinic.example"
"""
NAMES = ("Ann O'Brien", "Bob <b> & Co", 'Zoë "Z" Ünal', "Synthetic Patient", "Li")


def deterministic() -> None:
    """Message-IDs from a counter and a fixed calendar key: the only random parts."""
    counter = itertools.count(1)
    mime.make_msgid = lambda idstring=None, domain=None: f"<{next(counter)}.{idstring}@{domain}>"  # type: ignore[assignment]
    calendars.secrets.token_hex = lambda nbytes=32: "ab" * nbytes  # type: ignore[assignment, attr-defined]
    numbers = itertools.count(1)
    uuid.uuid4 = lambda: uuid.UUID(int=next(numbers))  # the SMS references (`notify.sms`)


def build(engine: Engine, config: Config, patients: int) -> None:
    upgrade(engine)
    load = argparse.Namespace(patients=patients, chunk=250, seed=2026, today=D, mix="mixed")
    load_clinic(engine, load)
    rebuild_schedules(engine, config.catalogue, only_stale=False)
    vary(engine, config)


def vary(engine: Engine, config: Config) -> None:
    """Make the synthetic patients differ in every way the cycle branches on."""
    now = datetime.combine(D - timedelta(days=2), time(10), tzinfo=UTC)
    with unit_of_work(engine, config.catalogue) as session:
        for patient in session.scalars(select(Patient).order_by(Patient.id)):
            number = patient.id
            patient.name = NAMES[number % len(NAMES)]
            if number % 7 == 0:  # a letter (the fallback of an email channel without an email)
                patient.email = None
                patient.address = f"{number} Bench Street\nTown & <Shire>\nAB1 2CD"
            if number % 17 == 0:  # no address for any channel: skipped
                patient.email, patient.address = None, None
            if number % 11 == 0:
                patient.email_opted_out = True
                patient.address = f"{number} Opted Road\nTown"
            if number % 13 == 0:
                patient.channel = Channel.SMS
                patient.phone = "+447700900123"
            if number % 19 == 0:
                patient.channel = Channel.LETTER
                patient.address = f"{number} Letter Lane\nTown"
        session.flush()
        mrns = list(session.scalars(select(Patient.mrn).order_by(Patient.id)))
        for index, mrn in enumerate(mrns, start=1):
            if index % 5 == 0:
                issue_calendar(session, mrn, actor="bench", now=now)
            if index % 9 == 0:
                outcome = ContactOutcome.NO_ANSWER if index % 2 else ContactOutcome.LEFT_MESSAGE
                record_contact(
                    session, mrn=mrn, outcome=outcome, by="nurse", booked_on=None, note=None,
                    actor="bench", today=now.date(), now=now - timedelta(days=index % 30),
                )  # fmt: skip


def deliver(engine: Engine, cycle: int) -> None:
    """What `monitor send` would have done: every pending row sent; after the second cycle
    (D) a few failed and a few left waiting for a retry, so that D+1's digests speak of mail
    problems (and later ones of mail delivered late)."""
    with engine.begin() as connection:
        if cycle == 1:
            pending = connection.execute(
                select(OutboxMessage.id, OutboxMessage.created_at)
                .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.id % 3 != 2)
                .order_by(OutboxMessage.id)
            ).all()
            for row_id, created_at in pending:
                values: dict[str, Any] = {"first_failed_at": created_at}
                if row_id % 3 == 0:
                    values.update(status=OutboxStatus.FAILED, attempts=3, last_error="550 bench",
                                  failed_at=created_at + timedelta(hours=12))  # fmt: skip
                else:
                    values.update(attempts=2, last_error="451 bench",
                                  next_attempt_at=created_at + timedelta(days=2))  # fmt: skip
                connection.execute(
                    update(OutboxMessage).where(OutboxMessage.id == row_id).values(values)
                )
            return
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=OutboxMessage.created_at, attempts=1)
        )


def run_cycles(engine: Engine, config: Config) -> list[dict[str, Any]]:
    reports = []
    for number, offset in enumerate(CYCLES):
        on = D + timedelta(days=offset)
        now = datetime.combine(on, time(6, 30), tzinfo=UTC) + timedelta(minutes=number)
        report = run_daily(engine, on=on, config=config, now=now)
        reports.append(
            {"on": on.isoformat(), "queued": report.queued, "skipped": report.skipped,
             "set_aside": report.set_aside, "held": report.held}
        )  # fmt: skip
        deliver(engine, number)
    return reports


TABLES = ("outbox", "notices", "daily_runs", "contacts", "settings")


def dump(engine: Engine, reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Every row of the tables the cycle writes, every column, in id (or key) order."""
    out: dict[str, Any] = {"reports": reports}
    with engine.connect() as connection:
        for name in TABLES:
            table = Base.metadata.tables[name]
            order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
            rows = connection.execute(select(table).order_by(*order))
            out[name] = [{k: _plain(v) for k, v in row._mapping.items()} for row in rows]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):  # an enum
        return value.value
    return value


def first_difference(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    for name in ("reports", *TABLES):
        old, new = before.get(name, []), after.get(name, [])
        if len(old) != len(new):
            return f"{name}: {len(old)} rows before, {len(new)} after"
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                columns = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                detail = "; ".join(f"{k}: {a.get(k)!r:.300} -> {b.get(k)!r:.300}" for k in columns)
                return f"{name} row {index}: {detail}"
    return None


def open_engine(args: argparse.Namespace, folder: Path) -> Engine:
    if args.database_url:
        engine = make_engine(args.database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        return engine
    return make_engine(f"sqlite:///{folder / 'identity.db'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (emptied)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", help="store the dump here")
    what.add_argument("--check", help="compare with the dump stored here")
    args = parser.parse_args()
    deterministic()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "identity.toml"
        path.write_text(BENCH_CONFIG + CONFIG_EXTRA)
        config = load_config(path)
        engine = open_engine(args, Path(folder))
        build(engine, config, args.patients)
        found = dump(engine, run_cycles(engine, config))
        engine.dispose()
    encoded = json.dumps(found, sort_keys=True, ensure_ascii=False, indent=0)
    digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()
    counts = {name: len(found[name]) for name in TABLES}
    print(f"sha256 {digest}; rows {counts}; cycles {found['reports']}")
    if args.write:
        Path(args.write).write_text(encoded)
        return
    stored = json.loads(Path(args.check).read_text())
    difference = first_difference(stored, found)
    if difference is not None:
        raise SystemExit(f"DIFFERENT: {difference}")
    print("identical to", Path(args.check).name)


if __name__ == "__main__":
    main()
