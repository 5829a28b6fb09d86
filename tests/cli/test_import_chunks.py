"""`monitor import` commits a long file in chunks of about 200 messages (issue 15 item 2): a run
of items is cut only where the patient changes, and a bad message in one chunk loses none of
the good ones, in its chunk or another."""

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.adapters.formats import parse_text
from monitor.config import Config
from monitor.services.results import imports
from monitor.store.models import QuarantineItem, Result, SlotChange

STAMP = "20240212083000"


def oru(mrn: str, control: str, *codes: str) -> str:
    segments = [
        f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1",
        f"PID|1||{mrn}^^^CITY^MR||Example^Ann",
        f"OBR|1||ACC{control}|58410-2^CBC^LN|||{STAMP}",
    ]
    values = {"777-3": ("210", "10*9/L"), "751-8": ("4.1", "10*9/L"), "99999-9": ("1", "x")}
    for n, code in enumerate(codes, 1):
        value, unit = values[code]
        segments.append(f"OBX|{n}|NM|{code}^^LN||{value}|{unit}|||||F")
    return "\r".join(segments) + "\r"


def test_chunks_are_cut_only_between_patients() -> None:
    text = "\n".join(oru(m, m, "777-3", "751-8") for m in ("A1", "A2", "A3"))
    items = parse_text(text, "hl7", Config(), source=None)
    chunks = list(imports.file_chunks(items, 3))
    assert [len(chunk) for chunk in chunks] == [4, 2]  # A1's two, then A2's two together
    assert {item.mrns for item in chunks[1]} == {("A3",)}  # type: ignore[union-attr]


def test_a_bad_message_in_a_chunked_file_loses_no_good_one(cli, engine, tmp_path, monkeypatch):
    for mrn in ("A1", "A2", "A3"):
        cli.ok("patient", "add", mrn, "--name", "Ann Example", "--sex", "F")
        cli.ok("course", "add", mrn, "--start", "2024-01-08", "--days", "5")
    monkeypatch.setattr(imports, "FILE_CHUNK_ITEMS", 2)  # one chunk per message
    messages = [oru("A1", "1", "777-3", "751-8"), oru("A2", "2", "777-3", "99999-9")]
    messages.append(oru("A3", "3", "777-3", "751-8"))
    path = tmp_path / "feed.hl7"
    path.write_text("\n".join(messages), encoding="utf-8")
    with Session(engine) as session:
        changes_before = session.scalar(select(func.count()).select_from(SlotChange))
    out = json.loads(cli.ok("import", str(path), "--json"))
    assert (out["stored"], out["quarantined"]) == (5, 1)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Result)) == 5
        assert session.scalar(select(func.count()).select_from(QuarantineItem)) == 1
        recorded = session.scalar(select(func.count()).select_from(SlotChange))
    assert recorded == changes_before + 3  # one per patient whose slots were re-matched
