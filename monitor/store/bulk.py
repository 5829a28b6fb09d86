"""Inserting many rows at the speed of the driver (the onboarding's and the bulk rebuild's slots:
hundreds of thousands in one transaction; the benchmarks' synthetic clinics).

SQLAlchemy's executemany spends most of its time per parameter (type processing, compiling
parameter sets). Here the rows go to the driver in one call, on the caller's connection inside
its transaction: `COPY ... FROM STDIN` on PostgreSQL (psycopg adapts the values), `executemany`
on SQLite with the values converted column by column as the column's SQLite type stores them:
a date as its ISO text (SQLite's DATE storage format, `YYYY-MM-DD`), a boolean as 0 or 1, any
other typed column through its own bind processor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.types import Boolean, Date, DateTime, TypeEngine


def insert_rows_on(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` on `connection`, in its transaction (a bulk rebuild's, a loader's)."""
    if not rows:
        return
    columns = list(rows[0])
    get = itemgetter(*columns)
    insert_tuples_on(connection, table, columns, [get(row) for row in rows])


def insert_tuples_on(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert `rows`, each the values of `columns` in that order, on `connection`."""
    if not rows:
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    by_column = zip(*rows, strict=True)
    converted = [
        _stored(table.c[name].type, list(values), connection.dialect)
        for name, values in zip(columns, by_column, strict=True)
    ]
    marks = ", ".join("?" for _ in columns)
    cursor = driver.cursor()
    try:
        statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
        cursor.executemany(statement, list(zip(*converted, strict=True)))
    finally:
        cursor.close()


def _stored(kind: TypeEngine[Any], values: list[Any], dialect: Dialect) -> list[Any]:
    """One column's values as SQLite stores them (see the module's docstring)."""
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        if None in values:
            return [None if value is None else date.isoformat(value) for value in values]
        return list(map(date.isoformat, values))
    if isinstance(kind, Boolean):
        return [None if value is None else int(bool(value)) for value in values]
    process = kind.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    return [None if value is None else process(value) for value in values]
