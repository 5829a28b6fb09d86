"""treatments: every course belongs to a treatment under a protocol; slots, waivers and notices
name their protocol (SPEC §10)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

Upgrade: every patient with courses gets one `alemtuzumab` treatment (started on their first
infusion, carrying the patient's schedule fingerprint), every course joins it, and every slot,
waiver and notice becomes alemtuzumab's, treatment 1: each slot keeps its dates and status
columns as they were. The fingerprint moves from patients to treatments (the slot algorithm's
version changed, so the first start rebuilds the schedules once, to the same slots).

Downgrade: refused while any treatment is under another protocol (the old schema cannot hold
it: remove those treatments first); otherwise the reverse, the fingerprint back on the patient.

Rules: never import monitor.store.models here (use sa.table() stand-ins); always write a real
downgrade(); use batch_alter_table so the same file runs on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "alemtuzumab"
OPEN = sa.text("completed_on IS NULL")
OLD_OPEN = ("window_end", "next_window_start", "is_waived", "is_cancelled", "patient_id",
            "panel", "due_on")  # fmt: skip
OLD_MISSED = ("patient_id", "panel", "window_end", "next_window_start", "completed_on",
              "is_waived", "is_cancelled")  # fmt: skip
NEW_OPEN = (*OLD_OPEN, "protocol", "treatment")
NEW_MISSED = ("patient_id", "protocol", "treatment", "panel", "window_end", "next_window_start",
              "completed_on", "is_waived", "is_cancelled")  # fmt: skip

PATIENTS = sa.table("patients", sa.column("id", sa.Integer),
                    sa.column("schedule_fingerprint", sa.String))  # fmt: skip
COURSES = sa.table(
    "courses",
    sa.column("id", sa.Integer),
    sa.column("patient_id", sa.Integer),
    sa.column("treatment_id", sa.Integer),
    sa.column("first_on", sa.Date),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
TREATMENTS = sa.table(
    "treatments",
    sa.column("id", sa.Integer),
    sa.column("patient_id", sa.Integer),
    sa.column("protocol", sa.String),
    sa.column("started_on", sa.Date),
    sa.column("schedule_fingerprint", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "treatments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("stopped_on", sa.Date(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("schedule_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("planned_until_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_treatments_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatments")),
    )
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatments_patient_id"), ["patient_id"], unique=False)
    _one_alemtuzumab_treatment_per_patient_with_courses()
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("treatment_id", sa.Integer(), nullable=True))
    op.execute(COURSES.update().values(treatment_id=_treatment_of(COURSES.c.patient_id)))
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.alter_column("treatment_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_courses_treatment_id"), ["treatment_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_courses_treatment_id_treatments"), "treatments", ["treatment_id"], ["id"]
        )
    _slots_up()
    _keyed_by_protocol("waivers", ("patient_id", "panel", "due_on"))
    _keyed_by_protocol("notices", ("patient_id", "panel", "due_on", "message", "step"))
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("schedule_fingerprint")


def _one_alemtuzumab_treatment_per_patient_with_courses() -> None:
    first = (
        sa.select(
            COURSES.c.patient_id,
            sa.literal(DEFAULT).label("protocol"),
            sa.func.min(COURSES.c.first_on).label("started_on"),
            sa.func.min(COURSES.c.created_at).label("created_at"),
        )
        .group_by(COURSES.c.patient_id)
        .subquery()
    )
    rows = sa.select(
        first.c.patient_id,
        first.c.protocol,
        first.c.started_on,
        first.c.created_at,
        PATIENTS.c.schedule_fingerprint,
    ).join(PATIENTS, PATIENTS.c.id == first.c.patient_id)
    op.execute(
        TREATMENTS.insert().from_select(
            ["patient_id", "protocol", "started_on", "created_at", "schedule_fingerprint"], rows
        )
    )


def _treatment_of(patient_id: sa.ColumnElement[int]) -> sa.ScalarSelect[int]:
    return (
        sa.select(TREATMENTS.c.id)
        .where(TREATMENTS.c.patient_id == patient_id, TREATMENTS.c.protocol == DEFAULT)
        .scalar_subquery()
    )


def _slots_up() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_open", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index("ix_slots_missed")
        batch_op.drop_constraint("uq_slots_patient_id_panel_due_on", type_="unique")
        batch_op.add_column(
            sa.Column("protocol", sa.String(32), nullable=False, server_default=DEFAULT)
        )
        batch_op.add_column(
            sa.Column("treatment", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.alter_column("course", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.alter_column("protocol", existing_type=sa.String(32), server_default=None)
        batch_op.alter_column("treatment", existing_type=sa.Integer(), server_default=None)
        batch_op.create_unique_constraint(
            "uq_slots_patient_id_protocol_panel_due_on",
            ["patient_id", "protocol", "panel", "due_on"],
        )
        batch_op.create_index("ix_slots_missed", NEW_MISSED)
        batch_op.create_index("ix_slots_open", NEW_OPEN, sqlite_where=OPEN, postgresql_where=OPEN)


def _keyed_by_protocol(table: str, key: tuple[str, ...]) -> None:
    old_name, new_name = (
        _unique_name(table, key),
        _unique_name(table, (key[0], "protocol", *key[1:])),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(old_name, type_="unique")
        batch_op.add_column(
            sa.Column("protocol", sa.String(32), nullable=False, server_default=DEFAULT)
        )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column("protocol", existing_type=sa.String(32), server_default=None)
        batch_op.create_unique_constraint(new_name, [key[0], "protocol", *key[1:]])


def _unique_name(table: str, columns: Sequence[str]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def downgrade() -> None:
    connection = op.get_bind()
    others = connection.scalar(
        sa.select(sa.func.count()).select_from(TREATMENTS).where(TREATMENTS.c.protocol != DEFAULT)
    )
    if others:
        raise RuntimeError(
            f"cannot downgrade below revision 0013: {others} treatment(s) are under protocols "
            f"other than {DEFAULT}, which the older schema cannot hold; remove them first"
        )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_fingerprint", sa.String(64), nullable=True))
    fingerprint = (
        sa.select(TREATMENTS.c.schedule_fingerprint)
        .where(TREATMENTS.c.patient_id == PATIENTS.c.id)
        .scalar_subquery()
    )
    op.execute(PATIENTS.update().values(schedule_fingerprint=fingerprint))
    for table, key in (
        ("notices", ("patient_id", "panel", "due_on", "message", "step")),
        ("waivers", ("patient_id", "panel", "due_on")),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                _unique_name(table, (key[0], "protocol", *key[1:])), type_="unique"
            )
            batch_op.drop_column("protocol")
            batch_op.create_unique_constraint(_unique_name(table, key), list(key))
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_open", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index("ix_slots_missed")
        batch_op.drop_constraint("uq_slots_patient_id_protocol_panel_due_on", type_="unique")
        batch_op.drop_column("treatment")
        batch_op.drop_column("protocol")
        batch_op.alter_column("course", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(
            "uq_slots_patient_id_panel_due_on", ["patient_id", "panel", "due_on"]
        )
        batch_op.create_index("ix_slots_missed", OLD_MISSED)
        batch_op.create_index("ix_slots_open", OLD_OPEN, sqlite_where=OPEN, postgresql_where=OPEN)
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_courses_treatment_id_treatments"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_courses_treatment_id"))
        batch_op.drop_column("treatment_id")
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatments_patient_id"))
    op.drop_table("treatments")
