"""A patient's live calendar: a private, revocable URL `/calendar/<token>.ics`.

Only the token's SHA-256 is kept (`patients.calendar_token_hash`), so the patients table alone
does not give the URL away. The reminder emails offer the link, so the service must be able to
say the token again: it is derived, `HMAC-SHA256(calendar key, "<patient id>:<n>")`, where the
key is 256 random bits made once and kept in `settings` and n counts the links the patient has
been given (their audit entries). A new link replaces the old one (n grows, so its token
differs); revoking clears the hash, and the URL then answers 404 (docs/decisions.md,
"Live calendar").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.catalogue import Catalogue, UnknownProtocol
from monitor.errors import InvalidInput
from monitor.notify.messages import TestDue
from monitor.services.audit import record_change
from monitor.store import slot_predicates as sp
from monitor.store.models import AuditEntry, Patient, Setting, Slot
from monitor.store.queries import find_patient

KEY_SETTING = "calendar.key"
ISSUE = "patient.calendar"
REVOKE = "patient.calendar_revoke"


@dataclass(frozen=True)
class CalendarEntries:
    """A patient's calendar: `owner` keys its UIDs (the patient's id, never the MRN); `tests`
    are the slots still to do, each with its panel's plain words and due date (SPEC §5)."""

    owner: str
    tests: list[TestDue]


def calendar_path(token: str) -> str:
    return f"/calendar/{token}.ics"


def site_url(config: Config) -> str:
    """`[web] public_url`, else the address `monitor serve` listens on."""
    if config.web.public_url:
        return config.web.public_url.rstrip("/")
    return f"http://{config.web.host}:{config.web.port}"


def calendar_link(session: Session, patient: Patient, config: Config) -> str | None:
    """The link a reminder offers: only with a `[web] public_url` (a patient cannot reach the
    address the worklist listens on) and a live calendar."""
    if not config.web.public_url:
        return None
    token = current_token(session, patient)
    return None if token is None else site_url(config) + calendar_path(token)


def issue_calendar(session: Session, mrn: str, *, actor: str, now: datetime) -> str:
    """A new calendar token for the patient (the old link stops working). Audited."""
    patient = find_patient(session, mrn)
    had = patient.calendar_token_hash is not None
    serial = _issued(session, patient.id) + 1
    token = _token(_made_key(session), patient.id, serial)
    patient.calendar_token_hash = _digest(token)
    record_change(
        session,
        at=now,
        actor=actor,
        action=ISSUE,
        entity="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        before={"calendar": had},
        after={"calendar": True, "link": serial},
    )
    return token


def revoke_calendar(session: Session, mrn: str, *, actor: str, now: datetime) -> None:
    patient = find_patient(session, mrn)
    if patient.calendar_token_hash is None:
        raise InvalidInput(f"{patient.mrn} has no calendar link to revoke")
    patient.calendar_token_hash = None
    record_change(
        session,
        at=now,
        actor=actor,
        action=REVOKE,
        entity="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        before={"calendar": True},
        after={"calendar": False},
    )


def current_token(session: Session, patient: Patient) -> str | None:
    """The patient's live link's token, or None when they have none (for the reminders)."""
    if patient.calendar_token_hash is None:
        return None
    row = session.get(Setting, KEY_SETTING)
    if row is None:
        return None
    key = bytes.fromhex(row.value)
    token = _token(key, patient.id, _issued(session, patient.id))
    return token if hmac.compare_digest(_digest(token), patient.calendar_token_hash) else None


def calendar_entries(
    session: Session, token: str, today: date, catalogue: Catalogue
) -> CalendarEntries | None:
    """The patient's upcoming and due tests, or None when the token is no live link."""
    patient_id = session.scalar(
        select(Patient.id).where(Patient.calendar_token_hash == _digest(token))
    )
    if patient_id is None:
        return None
    rows = session.execute(
        select(Slot.protocol, Slot.panel, Slot.due_on)
        .where(Slot.patient_id == patient_id, sp.pending_on(Slot, today))
        .order_by(Slot.due_on, Slot.protocol, Slot.panel)
    )
    tests = [
        TestDue(panel, due_on, _words(catalogue, protocol, panel))
        for protocol, panel, due_on in rows
    ]
    return CalendarEntries(f"patient-{patient_id}", tests)


def _words(catalogue: Catalogue, protocol: str, panel: str) -> str:
    try:
        return catalogue.panel(protocol, panel).patient_words
    except (UnknownProtocol, KeyError):
        return ""  # TestDue's own words for the panel name


def _issued(session: Session, patient_id: int) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.patient_id == patient_id, AuditEntry.action == ISSUE)
    )
    return int(count or 0)


def _made_key(session: Session) -> bytes:
    """The calendar key, made on first use (by `issue_calendar`: the reminders only read it)."""
    row = session.get(Setting, KEY_SETTING)
    if row is None:
        row = Setting(key=KEY_SETTING, value=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.value)


def _token(key: bytes, patient_id: int, serial: int) -> str:
    mac = hmac.new(key, f"{patient_id}:{serial}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
