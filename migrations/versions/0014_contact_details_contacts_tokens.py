"""contact details and channels, the contact log, repeats asked by a flag, API tokens

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

Patients gain a phone, a postal address, a reminder channel (email, letter or sms; every
existing patient stays on email) and the hash of a private calendar token; outbox rows name
their channel (every existing row is an email); flags may ask for a repeat test by a date; the
new `contacts` table logs each attempt to reach a patient, and `api_tokens` holds the FHIR
API's bearer tokens (hashed).

Downgrade: the reverse. Phones, addresses, channels, contact attempts, repeat dates and tokens
are lost; letters and SMS rows left in the outbox would read as emails, so the downgrade is
refused while any exists.

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("email", "letter", "sms")
OUTCOMES = ("reached", "no-answer", "left-message", "booked", "letter-sent")


def _channel(name: str) -> sa.Column[str]:
    return sa.Column(
        "channel",
        sa.Enum(*CHANNELS, name=name, native_enum=False, create_constraint=True, length=20),
        server_default="email",
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch_op.add_column(_channel("reminder_channel"))
        batch_op.add_column(sa.Column("calendar_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_patients_calendar_token_hash"), ["calendar_token_hash"]
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(_channel("outbox_channel"))
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat_due_on", sa.Date(), nullable=True))
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                *OUTCOMES,
                name="contact_outcome",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("contact_by", sa.String(length=200), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_contacts_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index("ix_contacts_patient_at", "contacts", ["patient_id", "contacted_at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )


def downgrade() -> None:
    outbox = sa.table("outbox", sa.column("channel", sa.String(20)))
    others = op.get_bind().execute(
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.channel != "email")
    )
    if others.scalar_one():
        raise RuntimeError(
            "the outbox holds letters or SMS messages, which revision 0013 cannot tell from "
            "emails: deliver or delete them before going down"
        )
    op.drop_table("api_tokens")
    op.drop_index("ix_contacts_patient_at", table_name="contacts")
    op.drop_table("contacts")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_column("repeat_due_on")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbox_outbox_channel"), type_="check")
        batch_op.drop_column("channel")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_patients_calendar_token_hash"), type_="unique")
        batch_op.drop_column("calendar_token_hash")
        batch_op.drop_constraint(batch_op.f("ck_patients_reminder_channel"), type_="check")
        batch_op.drop_column("channel")
        batch_op.drop_column("address")
        batch_op.drop_column("phone")
