"""outbox failure times

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

`first_failed_at` is when delivery of a message first failed (temporary or permanent), so
`monitor status` measures "failing for" from the first failure rather than from when the message
was queued; `failed_at` is when it was marked failed for good. Existing rows are backfilled with
their creation time, the best that is known about them.

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

outbox = sa.table(
    "outbox",
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("created_at", sa.DateTime()),
    sa.column("first_failed_at", sa.DateTime()),
    sa.column("failed_at", sa.DateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    status = sa.cast(outbox.c.status, sa.String())
    failed = status == "failed"
    retried = sa.and_(status.in_(["pending", "sending"]), outbox.c.attempts > 0)
    op.execute(
        outbox.update().where(sa.or_(failed, retried)).values(first_failed_at=outbox.c.created_at)
    )
    op.execute(outbox.update().where(failed).values(failed_at=outbox.c.created_at))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("first_failed_at")
