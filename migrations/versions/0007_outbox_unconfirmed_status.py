"""outbox status unconfirmed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

An email whose whole message was sent but whose final SMTP reply never came is `unconfirmed`:
it may have arrived, so it is not re-sent on its own. The status column's CHECK constraint gets
the new value. Downgrading turns such rows into `failed` (the old vocabulary's "not sent again,
a person looks"), keeping their `last_error`.

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_outbox_outbox_status"
OLD_STATUSES = ("pending", "sending", "sent", "failed", "skipped")
NEW_STATUSES = (*OLD_STATUSES, "unconfirmed")

outbox = sa.table("outbox", sa.column("status", sa.String(20)))


def _status_in(statuses: Sequence[str]) -> str:
    return "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))


def _replace_check(statuses: Sequence[str]) -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(op.f(CONSTRAINT), _status_in(statuses))


def upgrade() -> None:
    _replace_check(NEW_STATUSES)


def downgrade() -> None:
    op.execute(outbox.update().where(outbox.c.status == "unconfirmed").values(status="failed"))
    _replace_check(OLD_STATUSES)
