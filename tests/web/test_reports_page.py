"""The Reports page (TestClient, a generated clinic): signed-out refused, the two SVG charts, the
table's numbers equal to `monitor report adherence --json` for the same filter, bad filters said
on the page with 400, and the CSV downloads read back with the csv module. On SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from monitor.config import parse_config
from monitor.web.app import create_app
from tests.conftest import Cli
from tests.reports_clinic import store_clinic
from tests.web.clinic import TODAY
from tests.web.conftest import SECRET, FakeClock, sign_in

PERIOD = "from=2025-07-01&to=2026-06-30"
COUNTS = ("due", "done", "late", "overdue", "missed", "waived", "cancelled", "open")


@pytest.fixture
def generated(engine: Engine) -> None:
    store_clinic(engine, seed=99, size=30)


class Rows(HTMLParser):
    """The rows of the table with id `adherence-rows`: data-* keys and data-count cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.inside = False
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.inside = found.get("id") == "adherence-rows"
        elif self.inside and tag == "tr" and "data-month" in found:
            self.rows.append({k[5:]: v for k, v in found.items() if k.startswith("data-")})
        elif self.inside and tag == "td" and found.get("data-count"):
            self.cell = found["data-count"]

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.rows[-1][self.cell] = data.strip()
            self.cell = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False


def table_rows(html: str) -> list[dict[str, Any]]:
    parser = Rows()
    parser.feed(html)
    return parser.rows


def test_signed_out_the_page_and_downloads_go_to_the_sign_in(
    client: TestClient, generated: None
) -> None:
    for path in ("/reports", "/reports/adherence.csv", "/reports/rems.csv"):
        response = client.get(path)
        assert response.status_code in (302, 303), path
        assert response.headers["location"].endswith("/login")
        assert "R00" not in response.text  # no MRN leaks


def test_the_table_matches_the_cli_json_and_both_charts_are_svg(
    nurse: TestClient, cli: Cli, generated: None
) -> None:
    response = nurse.get(f"/reports?{PERIOD}&site=north")
    assert response.status_code == 200
    html = response.text
    assert 'href="/reports" class="here"' in html  # the nav link
    svgs = re.findall(r"<svg class=\"chart report-chart\".*?</svg>", html, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        ElementTree.fromstring(svg)  # well-formed
    assert "<polyline" in svgs[0] and "% on time" in svgs[0]
    assert "<rect" in svgs[1] and "days past the due date" in svgs[1]

    data = json.loads(
        cli.ok(
            "report", "adherence", "--from", "2025-07-01", "--to", "2026-06-30", "--site", "north",
            "--as-of", TODAY.isoformat(), "--json",
        )
    )  # fmt: skip
    from_json = [
        {
            "month": r["month"], "site": r["site"], "protocol": r["protocol"], "panel": r["panel"],
            **{name: str(r[name]) for name in COUNTS},
            "on_time_pct": "\u2013" if r["on_time_pct"] is None else f"{r['on_time_pct']:.1f}",
        }
        for r in data["rows"]
    ]  # fmt: skip
    assert table_rows(html) == from_json and from_json
    total = data["total"]
    assert f"{total['on_time_pct']:.1f} %" in html


def test_a_bad_filter_is_said_on_the_page(nurse: TestClient, generated: None) -> None:
    for query, words in (
        ("from=2026-03-01&to=2026-02-01", "before it starts"),
        ("from=2026-02-30&to=2026-03-01", "From &#39;2026-02-30&#39; is not a date"),
        (f"{PERIOD}&site=atlantis", "unknown site"),
        (f"{PERIOD}&protocol=nope", "unknown protocol"),
    ):
        response = nurse.get(f"/reports?{query}")
        assert response.status_code == 400, query
        assert words in response.text, query
        assert 'id="adherence-rows"' not in response.text
        assert nurse.get(f"/reports/rems.csv?{query}").status_code == 400


def test_the_downloads_are_the_cli_csv(nurse: TestClient, cli: Cli, generated: None) -> None:
    period = ("--from", "2025-07-01", "--to", "2026-06-30", "--as-of", TODAY.isoformat())
    for path, args in (
        ("/reports/adherence.csv", ("adherence",)),
        ("/reports/adherence.csv", ("adherence", "--by", "patient")),
        ("/reports/rems.csv", ("rems",)),
    ):
        query = PERIOD + ("&by=patient" if "patient" in args else "")
        response = nurse.get(f"{path}?{query}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        page_rows = list(csv.reader(io.StringIO(response.text)))
        cli_rows = list(csv.reader(io.StringIO(cli.ok("report", *args, *period, "--csv"))))
        assert page_rows == cli_rows and len(page_rows) > 1


def test_the_page_prints(nurse: TestClient, generated: None) -> None:
    css = nurse.get("/static/worklist.css").text
    printing = css[css.index("/* Reports (adherence)") :]
    assert "@media print" in printing
    html = nurse.get(f"/reports?{PERIOD}").text
    assert 'class="print-only report-print-head"' in html
    assert 'class="filters no-print"' in html


def test_stale_schedules_are_refused_not_reported(
    engine: Engine, clock: FakeClock, users: None, generated: None
) -> None:
    changed = parse_config({"protocol": {"panels": {"tsh": {"every_months": 2}}}})
    app = create_app(changed, engine, now=clock, today_fn=lambda: TODAY, secret=SECRET)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client).status_code == 303
        for path in ("/reports", "/reports/adherence.csv", "/reports/rems.csv"):
            response = client.get(f"{path}?{PERIOD}")
            assert response.status_code == 503, path
            assert "monitor db rebuild" in response.text
            assert "R00" not in response.text
