"""The caseload upload page (/patients/import): administrators only, CSRF-checked, the same
check / dry run / import as `monitor patient import`, bad rows listed by line and escaped; and
one upload through a real Chromium."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Patient
from tests.cli.examples_helper import template_xlsx
from tests.cli.test_patients import row_counts
from tests.web.clinic import PASSWORD
from tests.web.conftest import csrf_of

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "examples" / "caseload-template.csv").read_bytes()
HEADER = "mrn,name,dob,sex,site,email,phone,course_dates"


def upload(
    client: TestClient,
    data: bytes,
    *,
    name: str = "caseload.csv",
    action: str = "import",
    csrf: str | None = "page",
    skip_bad: bool = False,
):  # type: ignore[no-untyped-def]
    form = {"action": action}
    if csrf == "page":
        form["csrf"] = csrf_of(client, "/patients/import")
    elif csrf is not None:
        form["csrf"] = csrf
    if skip_bad:
        form["skip_bad"] = "on"
    return client.post("/patients/import", data=form, files={"file": (name, data, "text/csv")})


def test_a_nurse_is_refused_the_page_and_the_upload(nurse: TestClient, engine: Engine) -> None:
    assert nurse.get("/patients/import").status_code == 403
    token = csrf_of(nurse, "/")
    before = row_counts(engine)
    assert upload(nurse, TEMPLATE, csrf=token).status_code == 403
    assert row_counts(engine) == before


def test_an_upload_without_the_csrf_token_is_refused(admin: TestClient, engine: Engine) -> None:
    before = row_counts(engine)
    assert upload(admin, TEMPLATE, csrf=None).status_code == 403
    assert upload(admin, TEMPLATE, csrf="not-the-token").status_code == 403
    assert row_counts(engine) == before


def test_the_admin_checks_then_imports(admin: TestClient, engine: Engine) -> None:
    page = admin.get("/patients/import")
    assert page.status_code == 200 and 'type="file"' in page.text
    before = row_counts(engine)

    checked = upload(admin, TEMPLATE, action="check")

    assert checked.status_code == 200
    assert "Checked (nothing written)" in checked.text
    assert re.search(r'id="count-new">3<', checked.text)
    assert row_counts(engine) == before

    imported = upload(admin, TEMPLATE)

    assert imported.status_code == 200 and "Imported" in imported.text
    with unit_of_work(engine) as session:
        mrns = sorted(session.scalars(select(Patient.mrn)))
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert mrns == ["EX0001", "EX0002", "EX0003"]
    assert "web:adam" in actors

    again = upload(admin, TEMPLATE)
    assert re.search(r'id="count-unchanged">3<', again.text)


def test_an_xlsx_upload(admin: TestClient, engine: Engine, tmp_path: Path) -> None:
    data = template_xlsx(tmp_path).read_bytes()
    response = upload(admin, data, name="caseload.xlsx")
    assert response.status_code == 200
    assert re.search(r'id="count-new">3<', response.text)


def test_bad_rows_are_listed_by_line_escaped_and_nothing_written(
    admin: TestClient, engine: Engine
) -> None:
    evil = '<script>alert("x")</script>'
    data = (
        f"{HEADER}\n"
        "G1,Gail Good,1981-01-01,F,main,,,2024-01-08\n"
        f"{evil},Eve,1981-13-01,F,main,,,2024-01-08\n"
        f'E2,"{evil}",1981-01-01,F,main,{evil},,2024-01-08\n'
    ).encode()
    before = row_counts(engine)

    refused = upload(admin, data)

    assert refused.status_code == 400
    assert "Not imported" in refused.text and "nothing was written" in refused.text
    assert "<script>alert" not in refused.text
    assert "&lt;script&gt;" in refused.text
    table = refused.text[refused.text.index('id="bad-rows"') :]
    assert re.search(r'<td class="num">3</td>', table)
    assert re.search(r'<td class="num">4</td>', table)
    assert "email" in table
    assert row_counts(engine) == before

    skipped = upload(admin, data, skip_bad=True)

    assert skipped.status_code == 200
    assert re.search(r'id="count-new">1<', skipped.text)
    assert re.search(r'id="count-skipped">2<', skipped.text)
    with unit_of_work(engine) as session:
        assert list(session.scalars(select(Patient.mrn))) == ["G1"]


def test_a_file_that_is_not_a_caseload_is_refused(admin: TestClient, engine: Engine) -> None:
    before = row_counts(engine)
    unknown = upload(admin, b"mrn,name,colour,course_dates\n")
    wrong = upload(admin, b"%PDF-1.4", name="caseload.pdf")
    assert unknown.status_code == 400 and "unknown column(s) colour" in unknown.text
    assert wrong.status_code == 400 and ".csv or .xlsx" in wrong.text
    assert row_counts(engine) == before


def test_an_admin_uploads_a_caseload_in_the_browser(
    page: Page, live_server: str, engine: Engine, tmp_path: Path, users: None
) -> None:
    path = tmp_path / "caseload.csv"
    path.write_bytes(TEMPLATE)
    page.goto(live_server + "/")
    page.get_by_label("Name").fill("adam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import the caseload")

    page.get_by_label("Spreadsheet (.csv or .xlsx)").set_input_files(str(path))
    page.get_by_role("button", name="Check only").click()
    expect(page.locator("#import-result")).to_contain_text("Checked (nothing written)")
    expect(page.locator("#count-new")).to_have_text("3")

    page.get_by_label("Spreadsheet (.csv or .xlsx)").set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-result")).to_contain_text("Imported")
    with unit_of_work(engine) as session:
        assert len(list(session.scalars(select(Patient.mrn)))) == 3
