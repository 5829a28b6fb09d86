"""`monitor import` with messages built for each edge (issue 5), on SQLite and PostgreSQL."""

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import FlagStatus
from monitor.store.models import AuditEntry, Flag

COLLECTED = "20240212083000"


def oru(*obx: str, mrn: str = "A1", order: str = "ACC1", control: str = "C1") -> str:
    segments = [
        f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1",
        f"PID|1||{mrn}^^^CITY^MR||Example^Ann",
        f"OBR|1||{order}|58410-2^CBC^LN|||{COLLECTED}",
        *obx,
    ]
    return "\r".join(segments) + "\r"


def obx(n, code, value, unit="", *, kind="NM", ref="", flag="", status="F"):
    return f"OBX|{n}|{kind}|{code}||{value}|{unit}|{ref}|{flag}|||{status}"


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    return "A1"


def import_text(cli, tmp_path, text, name="msg.hl7", *args):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cli.ok("import", str(path), *args)


def results(cli, mrn="A1"):
    return json.loads(cli.ok("results", mrn, "--json"))


def by_analyte(rows):
    return {row["analyte"]: row for row in rows}


def flags(engine):
    with Session(engine) as session:
        return list(session.scalars(select(Flag).order_by(Flag.id)))


def slot(cli, panel, due="2024-02-12"):
    data = json.loads(cli.ok("schedule", "A1", "--as-of", "2024-02-20", "--json"))
    return next(s for s in data["slots"] if s["panel"] == panel and s["due_on"] == due)


def test_a_cbc_panel_in_k_per_ul_and_g_per_dl_is_stored_in_canonical_units(cli, patient, tmp_path):
    text = oru(
        obx(1, "777-3^Platelets^LN", "210", "K/uL", ref="150-400"),
        obx(2, "751-8^Neutrophils^LN", "4.1", "10*3/uL"),
        obx(3, "718-7^Hemoglobin^LN", "13.5", "g/dL"),
    )
    out = import_text(cli, tmp_path, text)
    assert "3 stored, 0 already there, 0 quarantined" in out
    rows = by_analyte(results(cli))
    assert rows["platelets"]["canonical_value"] == pytest.approx(210)
    assert rows["neutrophils"]["canonical_value"] == pytest.approx(4.1)
    assert rows["hemoglobin"]["canonical_value"] == pytest.approx(135)
    assert rows["platelets"]["collected_on"] == "2024-02-12"
    assert rows["platelets"]["source"] == "CITYLAB" and rows["platelets"]["status"] == "final"
    assert slot(cli, "cbc")["status"] == "done"


def test_creatinine_in_mg_per_dl_and_a_tsh_with_the_labs_own_range(cli, patient, tmp_path, engine):
    text = oru(
        obx(1, "2160-0^Creatinine^LN", "0.9", "mg/dL"),
        obx(2, "3016-3^TSH^LN", "4.5", "mIU/L", ref="0.3-5.0"),
    )
    import_text(cli, tmp_path, text)
    rows = by_analyte(results(cli))
    assert rows["creatinine"]["canonical_value"] == pytest.approx(79.56)
    assert (rows["tsh"]["ref_low"], rows["tsh"]["ref_high"]) == (0.3, 5.0)
    assert not [f for f in flags(engine) if f.rule.startswith("tsh")]  # 4.5 is inside 0.3-5.0


def test_a_urine_panel_with_ordinal_values(cli, patient, tmp_path):
    text = oru(
        obx(1, "5794-3^Blood^LN", "260385009^Negative^SCT", kind="CWE"),
        obx(2, "20454-5^Protein^LN", "1+", kind="ST"),
        obx(3, "13945-1^RBC^LN", "1", "/[HPF]"),
    )
    import_text(cli, tmp_path, text)
    rows = by_analyte(results(cli))
    assert rows["urine_blood"]["canonical_value"] == "negative"
    assert rows["urine_protein"]["canonical_value"] == "1+"
    assert rows["urine_rbc"]["canonical_value"] == pytest.approx(1)


def test_importing_the_same_message_twice_stores_nothing_new(cli, patient, tmp_path, engine):
    text = oru(obx(1, "777-3^Platelets^LN", "90", "K/uL"))
    import_text(cli, tmp_path, text)
    out = import_text(cli, tmp_path, text, "again.hl7")
    assert "0 stored, 1 already there, 0 quarantined" in out
    assert len(results(cli)) == 1
    assert len(flags(engine)) == 1


def test_a_corrected_result_replaces_the_old_one_and_supersedes_its_flag(
    cli, patient, tmp_path, engine
):
    import_text(cli, tmp_path, oru(obx(1, "777-3^Platelets^LN", "90", "K/uL")))
    assert [f.status for f in flags(engine)] == [FlagStatus.OPEN]
    out = import_text(
        cli, tmp_path, oru(obx(1, "777-3^Platelets^LN", "210", "K/uL", status="C")), "c.hl7"
    )
    assert "1 stored" in out
    rows = results(cli)
    assert sorted(r["status"] for r in rows) == ["corrected", "replaced"]
    assert [f.status for f in flags(engine)] == [FlagStatus.SUPERSEDED]
    assert json.loads(cli.ok("flags", "--json")) == []
    with Session(engine) as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "result.correct")
        ).one()
    assert audit.before["value"] == "90" and audit.after["value"] == "210"
    assert audit.after["superseded_flags"] == [flags(engine)[0].id]
    again = import_text(
        cli, tmp_path, oru(obx(1, "777-3^Platelets^LN", "210", "K/uL", status="C")), "c2.hl7"
    )
    assert "0 stored, 1 already there" in again


def test_a_final_that_differs_without_being_a_correction_is_quarantined(cli, patient, tmp_path):
    import_text(cli, tmp_path, oru(obx(1, "777-3^Platelets^LN", "210", "K/uL")))
    out = import_text(cli, tmp_path, oru(obx(1, "777-3^Platelets^LN", "220", "K/uL")), "b.hl7")
    assert "1 quarantined" in out and "not marked as a correction" in out


def test_entered_in_error_leaves_matching_and_rules_but_stays_in_history(
    cli, patient, tmp_path, engine
):
    import_text(cli, tmp_path, oru(obx(1, "2160-0^Creatinine^LN", "3.0", "mg/dL")))
    assert slot(cli, "creatinine")["status"] == "done"
    assert flags(engine)
    import_text(
        cli, tmp_path, oru(obx(1, "2160-0^Creatinine^LN", "3.0", "mg/dL", status="W")), "w.hl7"
    )
    assert [r["status"] for r in results(cli)] == ["entered-in-error"]
    assert slot(cli, "creatinine")["status"] != "done"
    assert {f.status for f in flags(engine)} == {FlagStatus.SUPERSEDED}


def test_a_preliminary_result_is_stored_but_does_not_complete_a_slot(cli, patient, tmp_path):
    import_text(cli, tmp_path, oru(obx(1, "2160-0^Creatinine^LN", "0.9", "mg/dL", status="P")))
    assert [r["status"] for r in results(cli)] == ["preliminary"]
    assert slot(cli, "creatinine")["status"] != "done"
    import_text(cli, tmp_path, oru(obx(1, "2160-0^Creatinine^LN", "0.9", "mg/dL")), "f.hl7")
    assert sorted(r["status"] for r in results(cli)) == ["final", "replaced"]
    assert slot(cli, "creatinine")["status"] == "done"


def test_one_bad_obx_keeps_the_good_ones(cli, patient, tmp_path):
    text = oru(
        obx(1, "777-3^Platelets^LN", "210", "K/uL"),
        obx(2, "718-7^Hemoglobin^LN", "13.5", "furlongs"),
        obx(3, "2161-8^Creatinine urine^LN", "59", "mg/dL"),
        obx(4, "751-8^Neutrophils^LN", "4.1", "K/uL"),
        obx(5, "6690-2^WBC^LN", "", "K/uL", status="X"),
    )
    out = import_text(cli, tmp_path, text)
    assert "2 stored, 0 already there, 2 quarantined, 1 not results" in out
    assert "unknown unit 'furlongs'" in out and "2161-8" in out
    assert set(by_analyte(results(cli))) == {"platelets", "neutrophils"}


def test_a_file_with_one_broken_message_among_good_ones(cli, patient, tmp_path):
    good1 = oru(obx(1, "777-3^Platelets^LN", "210", "K/uL"), control="1")
    broken = "MSH|^~\\&|LAB|CITYLAB|||2024||ADT^A08|2|P|2.5.1\rPID|1||A1\r"
    good2 = oru(obx(1, "718-7^Hemoglobin^LN", "13.5", "g/dL"), order="ACC2", control="3")
    out = import_text(cli, tmp_path, (good1 + broken + good2).replace("\r", "\n"))
    assert "2 stored, 0 already there, 1 quarantined" in out
    assert "ADT^A08 is not a lab result" in out


def test_csv_with_a_bad_row_keeps_the_others(cli, patient, tmp_path):
    text = (
        "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"
        "A1,platelets,210,K/uL,2024-02-12,,,,\n"
        "A1,777-3,abc,K/uL,2024-02-13,,,lab-x,\n"
        "A1,creatinine,80,umol/L,12/02/2024,,,,\n"
        "A1,14682-9,80,umol/L,2024-02-12,45,90,lab-x,S1\n"
    )
    out = import_text(cli, tmp_path, text, "results.csv")
    assert "2 stored, 0 already there, 2 quarantined" in out
    assert "not a number" in out and "not a date" in out
    assert "0 stored, 2 already there" in import_text(cli, tmp_path, text, "again.csv")


def test_exit_codes_for_unreadable_input_and_wrong_options(cli, tmp_path):
    assert cli("import", str(tmp_path / "missing.hl7")).code == 2
    (tmp_path / "a.hl7").write_text("MSH|")
    assert cli("import", str(tmp_path / "a.hl7"), "--format", "xml").code == 2
    assert cli("import", str(tmp_path / "a.hl7"), "--patient", "NOPE").code == 2
    assert cli("import", str(tmp_path / "a.hl7")).code == 0


def test_dry_run_writes_nothing(cli, patient, tmp_path):
    out = import_text(
        cli, tmp_path, oru(obx(1, "777-3^Platelets^LN", "210", "K/uL")), "d.hl7", "--dry-run"
    )
    assert "1 stored" in out and "dry run" in out
    assert results(cli) == []
