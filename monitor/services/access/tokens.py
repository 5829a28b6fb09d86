"""API bearer tokens for the FHIR API: made by an administrator, shown once, kept hashed.

The token is `secrets.token_urlsafe(32)` (256 random bits); only its SHA-256 is stored, so a
copy of the database does not let anyone call the API. A token is looked up by its hash (one
indexed equality: a fast hash suffices for a random 256-bit secret, unlike a password).
Revoked tokens stay, so the audit log can still name them; a name is never given twice.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.domain.fields import line_problem
from monitor.errors import InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.store.models import ApiToken

SCOPES = frozenset({"fhir:read"})
MAX_NAME_LENGTH = 200
TOKEN_BYTES = 32


class Verdict(StrEnum):
    """What a presented token is worth (the API answers 401 or 403 without saying which)."""

    ALLOWED = "allowed"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    WRONG_SCOPE = "wrong scope"


@dataclass(frozen=True)
class TokenRow:
    """One token as `monitor token list` shows it (never the token or its hash)."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    name: str | None = None  # the token's name when it is one of ours


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_token(session: Session, *, name: str, scopes: list[str], actor: str, now: datetime) -> str:
    """Make a token and return it: the only time it exists outside the caller's hands."""
    name = name.strip()
    problem = line_problem(name, MAX_NAME_LENGTH)
    if problem is not None or any(c.isspace() for c in name):
        raise InvalidInput(f"a token name is 1-{MAX_NAME_LENGTH} characters without spaces")
    given = sorted(set(scopes))
    unknown = [scope for scope in given if scope not in SCOPES]
    if not given or unknown:
        shown = ", ".join(repr(s) for s in unknown) or "none"
        raise InvalidInput(f"--scope must be one of {', '.join(sorted(SCOPES))} (got {shown})")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise InvalidInput(f"a token named {name!r} exists already (names are never reused)")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(
        name=name,
        token_hash=hash_token(token),
        scopes=" ".join(given),
        created_at=now,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        at=now,
        actor=actor,
        action="token.add",
        entity="api_token",
        entity_id=row.id,
        patient_id=None,
        after={"name": name, "scopes": row.scopes},
    )
    return token


def list_tokens(session: Session) -> list[TokenRow]:
    rows = session.scalars(select(ApiToken).order_by(ApiToken.name))
    return [
        TokenRow(
            row.name,
            tuple(row.scopes.split()),
            row.created_at,
            row.created_by,
            row.revoked_at,
            row.last_used_at,
        )
        for row in rows
    ]


def revoke_token(session: Session, *, name: str, actor: str, now: datetime) -> None:
    """Revoke a token at once (the next request with it is refused). Audited."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name.strip()))
    if row is None:
        raise NotFound(f"no token named {name.strip()[:MAX_NAME_LENGTH]!r}")
    if row.revoked_at is not None:
        raise InvalidInput(f"token {row.name!r} is already revoked")
    row.revoked_at = now
    record_change(
        session,
        at=now,
        actor=actor,
        action="token.revoke",
        entity="api_token",
        entity_id=row.id,
        patient_id=None,
        before={"name": row.name, "revoked": False},
        after={"name": row.name, "revoked": True},
    )


def check_token(session: Session, token: str, scope: str, now: datetime) -> Check:
    """The verdict on a presented token for `scope`; an allowed one has its use recorded."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        return Check(Verdict.UNKNOWN)
    if row.revoked_at is not None:
        return Check(Verdict.REVOKED, row.name)
    if scope not in row.scopes.split():
        return Check(Verdict.WRONG_SCOPE, row.name)
    session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return Check(Verdict.ALLOWED, row.name)
