"""Inserting many rows at the speed of the driver (the onboarding's slots: hundreds of thousands
in one transaction).

SQLAlchemy's executemany spends most of its time per parameter (type processing, compiling
parameter sets); here each value goes through the column type's own bind processor once (so
what is stored is what an ORM or Core insert stores) and the rows go to the driver in one call:
`executemany` on SQLite, `COPY ... FROM STDIN` on PostgreSQL (psycopg adapts the values). Both
run on the session's connection, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys, all columns of `table` but its defaults)."""
    if not rows:
        return
    columns = list(rows[0])
    connection = session.connection()
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    assert driver is not None
    names = ", ".join(columns)
    if dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row([row[column] for column in columns])
        return
    processors = [_processor(table, column, dialect) for column in columns]
    values = [
        tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(processors, (row[column] for column in columns), strict=True)
        )
        for row in rows
    ]
    marks = ", ".join("?" for _ in columns)
    cursor = driver.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)
    finally:
        cursor.close()


def _processor(table: Table, column: str, dialect: Any) -> Callable[[Any], Any] | None:
    kind = table.c[column].type.dialect_impl(dialect)  # e.g. SQLite's own DATE
    processor: Callable[[Any], Any] | None = kind.bind_processor(dialect)
    return processor
