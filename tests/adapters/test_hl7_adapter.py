"""The HL7 v2 parser on its own: segment ends, encodings, value types, times, statuses."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from monitor.adapters.hl7 import Hl7Options, decode, parse_hl7, split_messages
from monitor.adapters.hl7_fields import reference_range
from monitor.domain.codes import CodeMap
from monitor.domain.vocabulary import ResultStatus
from monitor.services.results.incoming import Incoming, Problem, Skipped

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "hl7"
OPTIONS = Hl7Options(timezone="Europe/London")

MSH = "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1"
PID = "PID|1||X9^^^OTHER^PI~A1^^^CITY^MR||Example^Ann"
OBR = "OBR|1|P1|ACC1|58410-2^CBC^LN|||20240212083000+0100"


def message(*obx: str, sep: str = "\r") -> str:
    return sep.join([MSH, PID, OBR, *obx]) + sep


def only(items):
    assert len(items) == 1
    return items[0]


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_segments_may_end_with_cr_lf_or_crlf(sep):
    item = only(
        parse_hl7(message("OBX|1|NM|777-3^PLT^LN||210|K/uL|150-400|N|||F", sep=sep), OPTIONS)
    )
    assert isinstance(item, Incoming)
    assert (item.value, item.unit, item.ref_low, item.ref_high) == ("210", "K/uL", 150.0, 400.0)
    assert item.accession == "ACC1" and item.source == "CITYLAB"


def test_a_bom_and_latin_1_are_read():
    raw = ("\ufeff" + message("OBX|1|NM|14682-9^Creat^LN||86|µmol/l|<95|||F")).encode("utf-8")
    assert only(parse_hl7(decode(raw), OPTIONS)).unit == "µmol/l"
    latin = message("OBX|1|NM|14682-9^Kreatinin^LN||86|µmol/l|<95|||F").encode("latin-1")
    assert only(parse_hl7(decode(latin), OPTIONS)).unit == "µmol/l"


def test_several_messages_in_one_file_are_split_on_msh():
    text = message("OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F") * 3
    assert len(split_messages(text)) == 3
    assert len(parse_hl7(text, OPTIONS)) == 3


def test_a_time_with_an_offset_becomes_a_utc_instant_and_a_time_without_one_is_local():
    item = only(parse_hl7(message("OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F"), OPTIONS))
    assert item.collected_at == datetime(2024, 2, 12, 7, 30, tzinfo=UTC)
    summer = message("OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F").replace(
        "20240212083000+0100", "20240612083000"
    )
    assert only(parse_hl7(summer, OPTIONS)).collected_at == datetime(2024, 6, 12, 7, 30, tzinfo=UTC)


def test_obx_14_is_used_when_obr_7_is_empty_and_a_bare_date_stays_a_date():
    text = message("OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F|||20240213").replace(
        "|||20240212083000+0100", "|||"
    )
    item = only(parse_hl7(text, OPTIONS))
    assert (item.collected_on, item.collected_at) == (date(2024, 2, 13), None)


def test_sn_values_ce_values_and_an_unescaped_10_power_unit():
    items = parse_hl7(
        message(
            "OBX|1|SN|777-3^PLT^LN||^182|10^9/L|||||F",
            "OBX|2|CWE|5794-3^Blood^LN||260385009^Negative^SCT||||||F",
            "OBX|3|SN|777-3^PLT^LN||<^5|10*9/L|||||F",
        ),
        OPTIONS,
    )
    assert [(i.value, i.unit) for i in items] == [
        ("182", "10^9/L"),
        ("Negative", None),
        ("<5", "10*9/L"),
    ]


def test_result_statuses():
    items = parse_hl7(
        message(
            "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||C",
            "OBX|2|NM|777-3^PLT^LN||210|K/uL|||||P",
            "OBX|3|NM|777-3^PLT^LN||210|K/uL|||||W",
            "OBX|4|NM|777-3^PLT^LN|||K/uL|||||X",
            "OBX|5|NM|777-3^PLT^LN||210|K/uL|||||Q",
        ),
        OPTIONS,
    )
    assert [i.status for i in items[:3]] == [
        ResultStatus.CORRECTED,
        ResultStatus.PRELIMINARY,
        ResultStatus.ENTERED_IN_ERROR,
    ]
    assert isinstance(items[3], Skipped) and "cannot be done" in items[3].reason
    assert isinstance(items[4], Problem) and "OBX-11" in items[4].reason


def test_one_unreadable_obx_is_a_problem_with_a_self_contained_raw_message():
    items = parse_hl7(
        message(
            "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F|||2024021399",
            "OBX|2|NM|718-7^Hb^LN||13|g/dL|||||F",
        ),
        OPTIONS,
    )
    assert isinstance(items[0], Incoming)  # OBR-7 wins over a broken OBX-14
    broken = message("OBX|1|NM|718-7^Hb^LN||13|g/dL|||||F").replace(
        "20240212083000+0100", "2024-02-12"
    )
    problem = only(parse_hl7(broken, OPTIONS))
    assert isinstance(problem, Problem) and "2024-02-12" in problem.reason
    assert problem.raw.startswith("MSH") and "\rPID|" in problem.raw and "\rOBX|" in problem.raw


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||A1", "not a lab result"),
        ("MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|P|2.5\rPID|1||\rOBX|1|NM|777-3||1|K/uL", "PID-3"),
        ("hello world", "without an MSH segment"),
    ],
)
def test_messages_that_cannot_be_used_are_one_whole_message_problem(text, reason):
    problem = only(parse_hl7(text, OPTIONS))
    assert isinstance(problem, Problem) and problem.whole_message and reason in problem.reason


def test_pid_3_can_be_narrowed_by_identifier_type_or_assigning_authority():
    text = message("OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F")
    assert only(parse_hl7(text, OPTIONS)).mrns == ("X9", "A1")
    assert only(parse_hl7(text, Hl7Options("Europe/London", identifier_type="MR"))).mrns == ("A1",)
    by_authority = Hl7Options("Europe/London", assigning_authority="OTHER")
    assert only(parse_hl7(text, by_authority)).mrns == ("X9",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("70-105", (70.0, 105.0)),
        ("13 to 18", (13.0, 18.0)),
        ("70_105", (70.0, 105.0)),
        ("<95", (None, 95.0)),
        ("> 6.8", (6.8, None)),
        ("negativ", (None, None)),
        ("", (None, None)),
    ],
)
def test_reference_ranges(text, expected):
    assert reference_range(text) == expected


def test_the_loinc_in_the_alternate_triplet_is_found_and_near_misses_are_not_ours():
    codes = CodeMap()
    ikmi = parse_hl7(decode((SAMPLES / "elexis_IKMI_09.hl7").read_bytes()), OPTIONS)
    mapped = {
        codes.analyte_for(i.codes, i.source)[0]
        for i in ikmi
        if codes.analyte_for(i.codes, i.source)
    }
    assert mapped == {"creatinine", "bilirubin"}
    oracle = parse_hl7(
        decode((SAMPLES / "trusted-intermediary_Oracle_004_ORU_R01.hl7").read_bytes()), OPTIONS
    )
    assert [codes.analyte_for(i.codes, i.source) for i in oracle] == [None, None, None]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.hl7")), ids=lambda p: p.name)
def test_every_sample_file_parses_into_items(path):
    items = parse_hl7(decode(path.read_bytes()), OPTIONS)
    assert items
    assert all(isinstance(i, Incoming | Problem | Skipped) for i in items)
