"""drop slots.overdue_until: overdue is spelled once, in store.slot_predicates

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

`overdue_until` (the earlier of `completed_on` and `next_window_start`) was a second spelling of
"overdue" beside the overdue list's; every query now reads the columns it was made of. The
downgrade re-adds it and fills it from them, as `services.schedule.slots.slot_rows` computed it.

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = sa.table(
    "slots",
    sa.column("completed_on", sa.Date),
    sa.column("next_window_start", sa.Date),
    sa.column("overdue_until", sa.Date),
)


def upgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_column("overdue_until")


def downgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_until", sa.Date(), nullable=True))
    completed, next_start = SLOTS.c.completed_on, SLOTS.c.next_window_start
    op.execute(
        SLOTS.update().values(
            overdue_until=sa.case(
                (completed.is_(None), next_start),
                (next_start.is_(None), completed),
                (completed < next_start, completed),
                else_=next_start,
            )
        )
    )
