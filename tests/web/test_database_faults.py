"""A database fault behind a worklist page (issue 11, item 4): a plain 500 page, a quiet log.

The fault is real: the patients table is renamed away while the worklist runs, so the page's
query fails in the database with its SQL and the MRN as a parameter. Neither may reach the page
or the log; the log names the exception's type and the fault in fixed words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.web.app import QuietErrors
from tests.web.conftest import sign_in

MRN = "RX-SECRET-4711"


@contextmanager
def patients_table_gone(engine: Engine) -> Iterator[None]:
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE patients RENAME TO patients_away"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE patients_away RENAME TO patients"))


def test_a_database_error_behind_a_page_shows_the_plain_500_page_and_logs_no_sql(
    app: Starlette, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(QuietErrors(app), follow_redirects=False) as client:
        assert sign_in(client).status_code == 303
        with caplog.at_level(logging.ERROR, logger="monitor.web"):
            with patients_table_gone(engine):
                response = client.get(f"/patients/{MRN}")

    assert response.status_code == 500
    assert "nothing was changed" in response.text
    for leak in (MRN, "SELECT", "patients_away", "sqlalche.me", "Error"):
        assert leak not in response.text
    (record,) = [r for r in caplog.records if r.name == "monitor.web"]
    logged = record.getMessage()
    assert logged.startswith("unhandled "), logged
    assert "/patients/{mrn}" in logged
    for leak in (MRN, "SELECT", "[parameters", "patients_away"):
        assert leak not in caplog.text
