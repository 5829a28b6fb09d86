"""a covering index on slots by due date, for the adherence reports

Revision ID: 0015_report_index
Revises: 0014
Create Date: 2026-12-01

The adherence report and the REMS list read every slot due in a period with the columns its
status needs; without this index SQLite walks the whole table (2-4 s at 10,000 patients,
BENCHMARKS.md, "Adherence reports"). Rules: never import monitor.store.models here; a real
downgrade(); batch_alter_table for SQLite and PostgreSQL alike.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_report_index"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_COLUMNS = [
    "due_on", "patient_id", "protocol", "panel", "window_end", "next_window_start", "done_on",
    "completed_on", "is_waived", "is_cancelled",
]  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.create_index("ix_slots_due_on", REPORT_COLUMNS)


def downgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_due_on")
