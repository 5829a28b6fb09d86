"""the protocol fingerprint of each patient's stored slots

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.

Existing patients get NULL: nobody knows which protocol their stored slots came from, so those
with slots count as stale until `monitor db rebuild` (or `monitor run` at start-up) rebuilds them.
An empty database, or patients with no slots, are fresh under any protocol.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("schedule_fingerprint")
