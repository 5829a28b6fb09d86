"""slot changes: one row per patient whose stored slots a commit rebuilt (the web cache's record)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: the web cache takes a whole snapshot when it starts, so it needs no history.
    op.create_table(
        "slot_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_changes")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("slot_changes")
