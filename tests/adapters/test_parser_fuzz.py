"""Random bytes and mutated real messages into every parser: no unhandled exception, and
everything either stored or quarantined when imported (issue 5)."""

from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.adapters.formats import parse_text
from monitor.adapters.hl7 import decode
from monitor.config import Config
from monitor.services.results.imports import ImportContext, import_items
from monitor.services.results.incoming import Incoming, Problem, Skipped
from monitor.store.models import QuarantineItem, Result

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
CONFIG = Config()
SMALL = [
    decode(p.read_bytes())
    for p in sorted(SAMPLES.glob("*/*"))
    if p.suffix in (".hl7", ".json") and p.stat().st_size < 20_000
]
CSV = (
    "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"
    "A1,platelets,210,K/uL,2024-02-12,150,400,lab,S1\n"
)
SEEDS = [*SMALL, CSV]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real message with a slice cut out, a slice repeated, or random text spliced in."""
    text = draw(st.sampled_from(SEEDS))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 200)))
    noise = draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
        ["|", "^", "~", "\\", "&", "\r", "\n", "MSH|", "OBX|1|SN|777-3||", "{", "}", '"', ","]
    ))  # fmt: skip
    how = draw(st.sampled_from(["cut", "repeat", "splice"]))
    if how == "cut":
        return text[:start] + text[end:]
    if how == "repeat":
        return text[:end] + text[start:end] + text[end:]
    return text[:start] + noise + text[end:]


def parse_all_formats(text: str) -> None:
    for fmt in (None, "hl7", "fhir", "csv"):
        items = parse_text(text, fmt, CONFIG, source=None)
        assert all(isinstance(item, Incoming | Problem | Skipped) for item in items)
        assert items


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_a_parser(data):
    parse_all_formats(decode(data))


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_real_messages_never_crash_a_parser(text):
    parse_all_formats(text)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=mutated())
def test_everything_imported_is_stored_or_quarantined_or_counted(engine, text):
    context = ImportContext(
        CONFIG, date(2026, 11, 1), datetime(2026, 11, 1, tzinfo=UTC), fallback_mrn="A1"
    )
    with Session(engine) as session, session.begin():
        before = _counts(session)
        items = parse_text(text, None, CONFIG, source=None)
        report = import_items(session, items, context)
        stored, quarantined = (a - b for a, b in zip(_counts(session), before, strict=True))
        session.rollback()
    assert report.stored + report.duplicates + report.quarantined + report.skipped == len(items)
    assert quarantined == report.quarantined
    assert stored <= report.stored


def _counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Result)) or 0,
        session.scalar(select(func.count()).select_from(QuarantineItem)) or 0,
    )
