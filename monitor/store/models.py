"""Tables. Calendar facts are `Date` columns (`*_on`); instants are UTC (`*_at`).

Slots are a cache of the pure schedule (`domain.treatments` + `domain.status`): rebuilt for one
patient whenever that patient's treatments, courses, results, waivers or status change, so the
overdue list is one indexed query; each treatment records the fingerprint of the protocol its
slots came from. Waivers live in their own table so they survive a rebuild.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from monitor.domain.rules import Severity
from monitor.domain.vocabulary import (
    STOPPED_STATUSES,
    Channel,
    ContactOutcome,
    FlagStatus,
    OutboxStatus,
    PatientStatus,
    QuarantineStatus,
    ResultStatus,
    UserRole,
)
from monitor.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    email_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    born_on: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    site: Mapped[str] = mapped_column(String(64), default="main", index=True)
    status: Mapped[PatientStatus] = mapped_column(
        _enum(PatientStatus, "patient_status"), default=PatientStatus.ACTIVE
    )
    status_on: Mapped[date | None] = mapped_column(Date)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Contact details for staff (never in a patient message or a log): a phone number as the
    # clinic keeps it, a postal address (lines separated by newlines) for letters.
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(
        _enum(Channel, "reminder_channel"), default=Channel.EMAIL, server_default="email"
    )
    # The SHA-256 of the patient's private calendar URL token (NULL: no live calendar).
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    treatments: Mapped[list[Treatment]] = relationship(
        back_populates="patient",
        order_by="(Treatment.started_on, Treatment.protocol)",
        cascade="all, delete-orphan",
    )
    courses: Mapped[list[Course]] = relationship(
        back_populates="patient", order_by="Course.first_on", cascade="all, delete-orphan"
    )

    @property
    def stopped_on(self) -> date | None:
        """The day monitoring stopped (withdrawn, deceased, transferred), or None."""
        return self.status_on if self.status in STOPPED_STATUSES else None


class Treatment(Base):
    """One protocol for one patient (SPEC §10.2): a `courses` protocol's treatment holds its
    courses (`started_on` is the first dose, kept by the course services; never stopped), a
    continuous one runs from `started_on` to `stopped_on` (NULL while open).

    `schedule_fingerprint` is `domain.catalogue.plan_fingerprint` of the protocol its stored
    slots were computed from, set at every rebuild (NULL: never built, or built before revision
    0013 by another algorithm); a treatment whose fingerprint is not its protocol's current one
    is stale. `planned_until_on` is how far ahead its open-ended series were planned (NULL: it
    has none), so the daily cycle can extend them before they run out.
    """

    __tablename__ = "treatments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    started_on: Mapped[date] = mapped_column(Date)
    stopped_on: Mapped[date | None] = mapped_column(Date)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    schedule_fingerprint: Mapped[str | None] = mapped_column(String(64))
    planned_until_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="treatments")
    courses: Mapped[list[Course]] = relationship(
        back_populates="treatment", order_by="Course.first_on"
    )


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    first_on: Mapped[date] = mapped_column(Date)
    last_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="courses")
    treatment: Mapped[Treatment] = relationship(back_populates="courses")
    infusions: Mapped[list[Infusion]] = relationship(
        back_populates="course", order_by="Infusion.infused_on", cascade="all, delete-orphan"
    )


class Infusion(Base):
    __tablename__ = "infusions"
    __table_args__ = (UniqueConstraint("course_id", "infused_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    infused_on: Mapped[date] = mapped_column(Date)

    course: Mapped[Course] = relationship(back_populates="infusions")


OPEN_SLOT_COLUMNS = (
    "window_end", "next_window_start", "is_waived", "is_cancelled", "patient_id", "panel",
    "due_on", "protocol", "treatment",
)  # fmt: skip
MISSED_COUNT_COLUMNS = (
    "patient_id", "protocol", "treatment", "panel", "window_end", "next_window_start",
    "completed_on", "is_waived", "is_cancelled",
)  # fmt: skip
REPORT_COLUMNS = (
    "due_on", "patient_id", "protocol", "panel", "window_end", "next_window_start", "done_on",
    "completed_on", "is_waived", "is_cancelled",
)  # fmt: skip


class Slot(Base):
    """One due occurrence of a panel in one series (protocol, treatment number, panel), with
    what the results did for it. `course` is the course number within its treatment (NULL for a
    continuous treatment). A patient's (protocol, panel, due date) is unique: two treatments of
    one protocol never overlap (a restart's old tail ends the day before it).

    `done_on` and `completed_on` are the days it became done and done-or-late (NULL: not yet),
    `next_window_start` the day the panel's next slot opens (NULL: the last slot); with the
    window and the two flags they are all `domain.status.slot_status` needs, and the conditions
    of `store.slot_predicates` read the same columns.
    """

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("patient_id", "protocol", "panel", "due_on"),
        # The overdue list reads never-completed past slots from this covering partial index
        # (no table lookups), and slots completed after an earlier --as-of date through
        # `ix_slots_completed_on`, which is partial so it is never chosen for the first half.
        Index(
            "ix_slots_open",
            *OPEN_SLOT_COLUMNS,
            sqlite_where=text("completed_on IS NULL"),
            postgresql_where=text("completed_on IS NULL"),
        ),
        Index(
            "ix_slots_completed_on",
            "completed_on",
            sqlite_where=text("completed_on IS NOT NULL"),
            postgresql_where=text("completed_on IS NOT NULL"),
        ),
        # The overdue list's count of missed slots per patient and panel (covering).
        Index("ix_slots_missed", *MISSED_COUNT_COLUMNS),
        # The adherence reports: every slot due in a period, with what its status needs.
        Index("ix_slots_due_on", *REPORT_COLUMNS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    protocol: Mapped[str] = mapped_column(String(32))
    treatment: Mapped[int] = mapped_column(Integer)
    panel: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    course: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    next_window_start: Mapped[date | None] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    is_waived: Mapped[bool] = mapped_column(Boolean, default=False)
    is_cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class Waiver(Base):
    """A nurse's decision that one slot need not be done; keyed by (protocol, panel, date) so
    it outlives rebuilds."""

    __tablename__ = "waivers"
    __table_args__ = (UniqueConstraint("patient_id", "protocol", "panel", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    protocol: Mapped[str] = mapped_column(String(32))
    panel: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    waived_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    waived_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlotChange(Base):
    """That one patient's stored slots (or the lines the lists show of them) changed in one
    commit; appended by `services.schedule.upkeep`, read by the web cache by id.

    AUTOINCREMENT on SQLite, so an id is never given twice even after the oldest rows are pruned
    (a reader compares ids). No foreign key: a log row should not hold up deleting a patient.
    """

    __tablename__ = "slot_changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Result(Base):
    """One lab value: as received (`value`, `unit`) and in the canonical unit.

    An imported result is identified by (source, accession, analyte, collected_at); importing it
    again stores nothing (NULL accessions, as from manual entry, never collide).
    """

    __tablename__ = "results"
    __table_args__ = (
        Index("ix_results_patient_analyte", "patient_id", "analyte", "collected_on"),
        Index("ix_results_identity", "source", "accession", "analyte", "collected_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    analyte: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    canonical_value: Mapped[float | None] = mapped_column(Float)
    ordinal: Mapped[str | None] = mapped_column(String(16))
    ref_low: Mapped[float | None] = mapped_column(Float)
    ref_high: Mapped[float | None] = mapped_column(Float)
    collected_on: Mapped[date] = mapped_column(Date)
    is_menstruating: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(64), default="manual")
    accession: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[ResultStatus] = mapped_column(
        _enum(ResultStatus, "result_status"),
        default=ResultStatus.FINAL,
        server_default=ResultStatus.FINAL.value,
    )
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    code: Mapped[str | None] = mapped_column(String(64))
    lab_flag: Mapped[str | None] = mapped_column(String(16))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"))


class AuditEntry(Base):
    """Who changed what, when, with the state before and after. Never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Flag(Base):
    """An abnormal-result finding: one per rule that fired, linked to its result.

    Open until a nurse acknowledges it; a corrected result that no longer fires the rule marks
    it superseded rather than deleting it.
    """

    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("result_id", "rule", "severity"),
        Index("ix_flags_status_patient", "status", "patient_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"))
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "flag_severity"))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[FlagStatus] = mapped_column(
        _enum(FlagStatus, "flag_status"), default=FlagStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_note: Mapped[str | None] = mapped_column(Text)
    # A rule with `repeat_within_days` asks for the analyte to be measured again by this day
    # (NULL: no repeat asked); a superseded flag asks for nothing.
    repeat_due_on: Mapped[date | None] = mapped_column(Date)

    result: Mapped[Result] = relationship()


class Pregnancy(Base):
    """A period during which the patient is pregnant (`to_on` NULL while ongoing)."""

    __tablename__ = "pregnancies"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    from_on: Mapped[date] = mapped_column(Date)
    to_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """One email, rendered when it was decided, delivered later (transactional outbox).

    `dedupe_key` is unique, so deciding the same thing twice queues nothing. A sender claims a
    row by a conditional update (status and `claimed_until`), sends outside any transaction, then
    records the outcome; `message_id` stays the same across retries so mail systems can drop a
    copy re-sent after a crash. Skipped sends are rows too, with the reason.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(64))
    # email: `recipient` is an address; sms: a phone number; letter: the postal address, and
    # the letter is `body_html`, printed by `monitor letters`.
    channel: Mapped[Channel] = mapped_column(
        _enum(Channel, "outbox_channel"), default=Channel.EMAIL, server_default="email"
    )
    recipient: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    site: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    calendar: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    run_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "Failing for" counts from the first failed attempt, not from when the row was queued.
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # marked failed for good


class Notice(Base):
    """That a reminder about one slot (and overdue step) was decided: at most once, ever.

    Several notices of one run and patient share one outbox email; a lower overdue step reached
    together with a higher one is recorded as skipped.
    """

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("patient_id", "protocol", "panel", "due_on", "message", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    protocol: Mapped[str] = mapped_column(String(32))
    panel: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    run_on: Mapped[date] = mapped_column(Date)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    reason: Mapped[str | None] = mapped_column(Text)


class Contact(Base):
    """One attempt to reach a patient (phone, letter), as a nurse recorded it. `contact_by` is
    who made it; `booked_on` the test appointment agreed, if any. Never updated or deleted."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_patient_at", "patient_id", "contacted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    contacted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[ContactOutcome] = mapped_column(_enum(ContactOutcome, "contact_outcome"))
    contact_by: Mapped[str] = mapped_column(String(200))
    booked_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token for the FHIR API: only its SHA-256 is kept; `scopes` space-separated
    (e.g. "fhir:read"). Revoked tokens stay, so the audit can name them."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DailyRun(Base):
    """One daily cycle for a clinic date: when it ran and what it did."""

    __tablename__ = "daily_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_on: Mapped[date] = mapped_column(Date, unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queued: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    set_aside: Mapped[list[int] | None] = mapped_column(JSON)


class QuarantineItem(Base):
    """Input that could not be taken in whole, kept with its raw text and a plain reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[QuarantineStatus] = mapped_column(
        _enum(QuarantineStatus, "quarantine_status"), default=QuarantineStatus.OPEN, index=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A person who signs in to the web worklist (argon2 password hash, never the password)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every session cookie carries the generation it was made in; signing out, a new password
    # or disabling the account adds one, which ends every session of the account at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Setting(Base):
    """Small values the program keeps for itself (e.g. the generated web session secret)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
