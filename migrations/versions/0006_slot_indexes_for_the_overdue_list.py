"""slot indexes for the overdue list

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OPEN_SLOT_COLUMNS = [
    "window_end", "next_window_start", "is_waived", "is_cancelled", "patient_id", "panel",
    "due_on",
]  # fmt: skip
MISSED_COUNT_COLUMNS = [
    "patient_id", "panel", "window_end", "next_window_start", "completed_on", "is_waived",
    "is_cancelled",
]  # fmt: skip
OPEN = sa.text("completed_on IS NULL")
COMPLETED = sa.text("completed_on IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slots_overdue"))
        batch_op.create_index(
            "ix_slots_completed_on", ["completed_on"], sqlite_where=COMPLETED,
            postgresql_where=COMPLETED,
        )  # fmt: skip
        batch_op.create_index("ix_slots_missed", MISSED_COUNT_COLUMNS)
        batch_op.create_index(
            "ix_slots_open", OPEN_SLOT_COLUMNS, sqlite_where=OPEN, postgresql_where=OPEN
        )


def downgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_open", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index("ix_slots_missed")
        batch_op.drop_index(
            "ix_slots_completed_on", sqlite_where=COMPLETED, postgresql_where=COMPLETED
        )
        batch_op.create_index(
            batch_op.f("ix_slots_overdue"), ["window_end", "overdue_until"], unique=False
        )
