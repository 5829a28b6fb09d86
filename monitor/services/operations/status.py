"""The `monitor status` report: the service's health in one piece, with every reason to page.

Each part is answered where it lives (the schema and the database in `database`, the daily
cycle in `runs`, mail in `services.mail.health`, the schedules in
`services.schedule.fingerprints`); this module puts them together in one unit of work and lists
the problems in a stable order. The CLI prints the report as text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.services.mail.health import MailHealth, mail_health, mail_problems
from monitor.services.mail.readiness import reminders_hold
from monitor.services.mail.unconfirmed import unconfirmed_problem
from monitor.services.operations.database import (
    SchemaRevision,
    daemon_holder,
    schema_revision,
    write_problems,
)
from monitor.services.operations.runs import (
    LastRun,
    digest_problems,
    last_run,
    missing_cycle_problem,
    set_aside_problem,
)
from monitor.services.schedule.fingerprints import count_stale_patients
from monitor.store.db import unit_of_work


@dataclass(frozen=True)
class ServiceStatus:
    """What `monitor status` reports; `problems` empty means all is well."""

    schema: SchemaRevision
    last_run: LastRun | None
    mail: MailHealth
    lock_holder: str | None  # the daemon running on this database, if any
    unconfigured: list[str]  # config.toml keys still holding the shipped placeholders
    stale_patients: int | None  # None: the schema is too old to tell
    problems: list[str]


def service_status(engine: Engine, config: Config, now: datetime) -> ServiceStatus:
    """The report as of `now`; works on a database whose schema is not the newest."""
    schema = schema_revision(engine)
    with unit_of_work(engine) as session:
        run, mail = last_run(session), mail_health(session, now)
        holder = daemon_holder(engine)
        stale = _stale_patients(session, config, schema)
        problems = [
            *_problems(session, config, now, (schema, run, mail)),
            *_stale_schedule_problems(stale),
        ]
    problems += write_problems(engine)
    return ServiceStatus(schema, run, mail, holder, config.unconfigured_keys, stale, problems)


def _stale_patients(session: Session, config: Config, schema: SchemaRevision) -> int | None:
    """How many patients' stored slots were computed from another protocol than the
    configuration's (None: the schema is too old to tell)."""
    if schema.current != schema.head:
        return None
    return count_stale_patients(session, config.catalogue)


def _stale_schedule_problems(stale: int | None) -> list[str]:
    if not stale:
        return []
    return [
        f"the stored schedules of {stale} patient(s) were computed from a different protocol "
        "definition than the configuration's: run `monitor db rebuild` (`monitor run` also does "
        "it when it starts; restart it if config.toml changed since)"
    ]


def _problems(
    session: Session,
    config: Config,
    now: datetime,
    parts: tuple[SchemaRevision, LastRun | None, MailHealth],
) -> list[str]:
    """Every reason to page, each from its own check, in a stable order."""
    schema, run, mail = parts
    found = [
        _schema_problem(schema),
        missing_cycle_problem(session, config, now),
        set_aside_problem(run),
        *digest_problems(session, run),
        *mail_problems(mail),
        unconfirmed_problem(session),
        reminders_hold(config),
    ]
    return [problem for problem in found if problem is not None]


def _schema_problem(schema: SchemaRevision) -> str | None:
    if schema.current == schema.head:
        return None
    return "database schema is not at the latest revision: run `monitor db upgrade`"
