"""Editing a patient's details: identity, sex, site and how they are reached (issue 14 item 2).

Every field is checked before anything changes, and one audit entry holds the fields that
changed, before and after. A change of sex changes the patient's clinical meaning (sex-specific
panels and thresholds), so it needs a reason; the unit of work rebuilds the slots when it sees
the new sex (`services.schedule.upkeep` watches `Patient.sex`), and a new site re-lists the
patient. Open flags are left as they were raised: a clinician reviews them. Changing the email
address keeps the patient's opt-out (as `set_email_preference` does). An empty text clears an
optional field (email, phone, address).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.addresses import checked_address
from monitor.domain.contact_details import checked_phone, checked_postal_address
from monitor.domain.fields import NAME_LENGTH, SITE_LENGTH, checked_line, checked_note
from monitor.domain.vocabulary import Channel
from monitor.errors import Field, FieldError, InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.services.people.patients import _check_patient_fields
from monitor.services.people.record import sites as sites_in_use
from monitor.store.models import Patient
from monitor.store.queries import find_patient

DEFAULT_SITE = "main"
PHONE = "phone number"
POSTAL = "postal address"
CHANNEL = "channel"
# Changes to these fields change what the schedule or the rules say: a reason is required.
NEEDS_REASON = ("sex",)


@dataclass(frozen=True)
class PatientChanges:
    """The fields to change (None: keep); "" clears email, phone or address."""

    name: str | None = None
    born_on: date | None = None
    sex: str | None = None
    site: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    channel: str | None = None

    def any(self) -> bool:
        return any(value is not None for value in vars(self).values())


def allowed_sites(session: Session, config: Config) -> list[str]:
    """The sites a patient may be moved to: `[clinic] sites`, else "main" and those in use."""
    if config.clinic.sites:
        return list(config.clinic.sites)
    return sorted({DEFAULT_SITE, *sites_in_use(session)})


def edit_patient(
    session: Session,
    *,
    mrn: str,
    changes: PatientChanges,
    reason: str | None,
    sites: Sequence[str],
    actor: str,
    now: datetime,
) -> dict[str, tuple[str | None, str | None]]:
    """Apply `changes` to the patient; what changed, field by field (before, after).

    InvalidInput (nothing changed) for a bad field, a site not in `sites`, or a change of sex
    without a reason. Fields given with their current value are not changes."""
    if not changes.any():
        raise InvalidInput("give at least one field to change")
    patient = find_patient(session, mrn)
    staying = list(dict.fromkeys([*sites, patient.site]))  # keeping a site is not a move
    wanted = _checked(changes, staying, now.date())
    before = snapshot(patient)
    changed = {
        name: (before[name], value) for name, value in wanted.items() if before[name] != value
    }
    reason = _checked_reason(reason, changed)
    for name, (_, value) in changed.items():
        _assign(patient, name, value)
    if changed:
        record_change(
            session,
            at=now,
            actor=actor,
            action="patient.edit",
            entity="patient",
            entity_id=patient.id,
            patient_id=patient.id,
            before={name: old for name, (old, _) in changed.items()},
            after={name: new for name, (_, new) in changed.items()}
            | ({"reason": reason} if reason else {}),
        )
    return changed


def current_details(session: Session, patient_id: int) -> dict[str, str | None]:
    """The patient's editable fields as `snapshot` says them (for a form to show)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"unknown patient id {patient_id}")
    return snapshot(patient)


def snapshot(patient: Patient) -> dict[str, str | None]:
    """The editable fields as the audit log keeps them (dates as ISO text)."""
    return {
        "name": patient.name,
        "dob": patient.born_on.isoformat() if patient.born_on else None,
        "sex": patient.sex,
        "site": patient.site,
        "email": patient.email,
        "phone": patient.phone,
        "address": patient.address,
        "channel": patient.channel.value,
    }


def _checked(changes: PatientChanges, allowed: Sequence[str], today: date) -> dict[str, str | None]:
    _check_patient_fields(changes.born_on, changes.sex, today)
    wanted: dict[str, str | None] = {}
    if changes.name is not None:
        wanted["name"] = checked_line(changes.name, Field.NAME, NAME_LENGTH)
    if changes.born_on is not None:
        wanted["dob"] = changes.born_on.isoformat()
    if changes.sex is not None:
        wanted["sex"] = changes.sex
    if changes.site is not None:
        wanted["site"] = checked_site(changes.site, allowed)
    if changes.email is not None:
        wanted["email"] = _optional(changes.email, lambda v: checked_address(v, Field.EMAIL))
    if changes.phone is not None:
        wanted["phone"] = _optional(changes.phone, lambda v: checked_phone(v, PHONE))
    if changes.address is not None:
        wanted["address"] = _optional(changes.address, lambda v: checked_postal_address(v, POSTAL))
    if changes.channel is not None:
        wanted["channel"] = _checked_channel(changes.channel)
    return wanted


def _optional(value: str, check: Callable[[str], str]) -> str | None:
    return check(value) if value.strip() else None


def checked_site(value: str, allowed: Sequence[str]) -> str:
    """`value` if it is one of the clinic's sites (`allowed_sites`); a FieldError otherwise."""
    site = checked_line(value, Field.SITE, SITE_LENGTH)
    if site not in allowed:
        raise FieldError(
            Field.SITE, f" {site!r} is not a site of this clinic ({', '.join(allowed)})"
        )
    return site


def _checked_channel(value: str) -> str:
    try:
        return Channel(value.strip().lower()).value
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise FieldError(CHANNEL, f" {value[:20]!r} must be one of {allowed}") from None


def _checked_reason(
    reason: str | None, changed: dict[str, tuple[str | None, str | None]]
) -> str | None:
    text = checked_note(reason, Field.REASON).strip() if reason is not None else ""
    needing = [name for name in NEEDS_REASON if name in changed]
    if needing and not text:
        raise FieldError(Field.REASON, f" is required to change {', '.join(needing)}")
    return text or None


def _assign(patient: Patient, name: str, value: object) -> None:
    if name == "dob":
        patient.born_on = date.fromisoformat(str(value))
    elif name == "channel":
        patient.channel = Channel(str(value))
    else:
        setattr(patient, name, value)
