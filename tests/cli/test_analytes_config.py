"""`[analytes.<name>]` in config.toml (SPEC §10.1): imported and typed results of an analyte
beyond SPEC §2 are stored with its canonical unit; a bad table stops the program (exit 2)."""

from __future__ import annotations

import json

import pytest

JCV_CONFIG = """
[analytes.jcv_index]
unit = "index"
units = { "ratio" = 1, "cidx" = 0.01 }
loinc = ["99999-9"]

[codes.local.citylab]
JCVI = "jcv_index"
"""
CSV_HEADER = "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"


def oru(obx: str) -> str:
    return (
        "MSH|^~\\&|LAB|citylab|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1\r"
        "PID|1||A1^^^CITY^MR\r"
        "OBR|1||ACC1|JCV^JCV^L|||20240212083000\r"
        f"{obx}\r"
    )


@pytest.fixture
def clinic(cli, tmp_path):
    (tmp_path / "config.toml").write_text(JCV_CONFIG, encoding="utf-8")
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    return cli


def results(cli):
    return json.loads(cli.ok("results", "A1", "--json"))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("loinc.hl7", oru("OBX|1|NM|99999-9^JCV antibody index^LN||0.42|ratio|||||F")),
        ("local.hl7", oru("OBX|1|NM|JCVI^JCV index^L||42|cidx|||||F")),
        ("name.csv", CSV_HEADER + "A1,jcv_index,0.42,Index,2024-02-12,,,citylab,R1\n"),
        ("loinc.csv", CSV_HEADER + "A1,99999-9,0.42,index,2024-02-12,,,citylab,R2\n"),
    ],
)
def test_an_imported_result_of_an_added_analyte_is_stored_in_its_canonical_unit(
    clinic, tmp_path, name, text
):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = clinic.ok("import", str(path))

    assert "1 stored" in out, out
    [row] = results(clinic)
    assert (row["analyte"], row["canonical_value"]) == ("jcv_index", pytest.approx(0.42))


def test_a_typed_result_of_an_added_analyte_is_stored(clinic):
    clinic.ok("result", "add", "A1", "--analyte", "jcv_index", "--value", "1.6",
              "--unit", "index", "--collected", "2024-02-12")  # fmt: skip
    assert [(r["analyte"], r["canonical_value"]) for r in results(clinic)] == [("jcv_index", 1.6)]

    refused = clinic("result", "add", "A1", "--analyte", "jcv_index", "--value", "1.6",
                     "--unit", "mg/dL", "--collected", "2024-02-12")  # fmt: skip
    assert refused.code == 2
    assert "unknown unit 'mg/dL' for jcv_index (canonical index" in refused.err


def test_without_a_table_an_analyte_is_unknown(cli, tmp_path):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    path = tmp_path / "name.csv"
    path.write_text(CSV_HEADER + "A1,igg,8.5,g/L,2024-02-12,,,citylab,R1\n")

    assert "1 quarantined" in cli.ok("import", str(path))
    [item] = json.loads(cli.ok("quarantine", "--json"))
    assert item["reason"].startswith("code not mapped: igg from source 'citylab'")


def test_the_shipped_protocols_analytes_are_known_without_a_table(cli, tmp_path):
    """natalizumab.toml declares jcv_index, alemtuzumab.toml cervical_screen (SPEC §10.1)."""
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    path = tmp_path / "name.csv"
    path.write_text(
        CSV_HEADER + "A1,jcv_index,0.42,index,2024-02-12,,,citylab,R1\n"
        "A1,cervical_screen,Normal,,2024-02-12,,,citylab,R2\n"
    )

    assert "2 stored" in cli.ok("import", str(path))
    stored = {r["analyte"]: r for r in json.loads(cli.ok("results", "A1", "--json"))}
    assert stored["jcv_index"]["canonical_value"] == pytest.approx(0.42)
    assert stored["cervical_screen"]["value"] == "Normal"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[analytes.jcv_index]\nunits = { "x" = 1 }\n',
         "config.toml: analytes.jcv_index: give exactly one of unit and ordinal"),
        ('[analytes.jcv_index]\nunit = "index"\nunits = { "ratio" = -1 }\n',
         "config.toml: analytes.jcv_index.units.ratio: the factor must be a finite number above 0"),
        ('[analytes.jcv_index]\nunit = "index"\ncolour = "red"\n',
         "config.toml: analytes.jcv_index.colour: unknown key"),
        ('[analytes.hemoglobin]\nunit = "g/L"\n',
         "config.toml: analytes.hemoglobin: hemoglobin is a SPEC §2 analyte"),
        ('[analytes.jcv_index]\nunit = "index"\nloinc = ["777-3"]\n',
         "config.toml: analytes.jcv_index.loinc: 777-3 is mapped to platelets by codes.loinc"),
        ('[codes.loinc]\n"1-1" = "igg"\n',
         "config.toml: codes.loinc: unknown analyte(s) ['igg'] in codes.loinc"),
        ('[protocols.b_cells]\nkind = "continuous"\n[protocols.b_cells.panels.igg]\n'
         'analytes = ["igg"]\nevery_months = 6\n',
         "config.toml: protocols.b_cells.panels.igg.analytes[0]: unknown analyte 'igg'"),
    ],
)  # fmt: skip
def test_a_bad_analyte_table_stops_the_program_naming_the_key(cli, tmp_path, toml, message):
    (tmp_path / "config.toml").write_text(toml, encoding="utf-8")
    result = cli("protocols")

    assert result.code == 2
    assert message in result.err


def test_an_added_analyte_can_be_monitored_by_a_protocol(cli, tmp_path):
    (tmp_path / "config.toml").write_text(
        JCV_CONFIG + '[protocols.jcv]\nkind = "continuous"\n[protocols.jcv.panels.jcv]\n'
        'analytes = ["jcv_index"]\nevery_months = 6\n',
        encoding="utf-8",
    )
    listed = json.loads(cli.ok("protocols", "--json"))
    assert [p["panels"][0]["analytes"] for p in listed if p["id"] == "jcv"] == [["jcv_index"]]
