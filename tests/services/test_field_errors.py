"""Services refuse a field by its name in the product (`errors.Field`); the CLI says it as the
option it is typed in (`cli.context.OPTION_NAMES`: byte for byte the messages it always gave)
and a page as its form's label (`web.forms.FORM_LABELS`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine

from monitor.cli.context import OPTION_NAMES
from monitor.domain.fields import checked_line, checked_note
from monitor.errors import Field, FieldError, InvalidInput
from monitor.services.people.patients import add_patient, add_pregnancy, set_email_preference
from monitor.services.people.users import add_user
from monitor.services.results.flags import acknowledge_flag
from monitor.services.results.quarantine import drop_item
from monitor.services.results.recording import add_result
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.web.forms import FORM_LABELS, refusal
from tests.services.clinic import CONFIG, MRN, NOW, PROTOCOL, TODAY, enrol, result_in

Refused = Callable[..., object]


def test_the_cli_names_every_field() -> None:
    assert set(OPTION_NAMES) == set(Field)


def test_a_front_ends_own_label_is_kept_as_given() -> None:
    with pytest.raises(FieldError) as refused:
        checked_line("a\nb", "--source", 64)
    expected = "--source must be one line (it contains a line break)"
    assert refused.value.worded(OPTION_NAMES) == str(refused.value) == expected


def test_field_text_is_never_read_as_a_template() -> None:
    error = FieldError(Field.EMAIL, " '{0}{reason}@x' is not an email address")
    assert error.worded(OPTION_NAMES) == "--email '{0}{reason}@x' is not an email address"


def test_an_error_without_fields_reads_the_same_everywhere() -> None:
    error = InvalidInput("flag 3 is already acknowledged")
    assert error.worded(OPTION_NAMES) == refusal(error) == "flag 3 is already acknowledged"


# (what to call, the product's words, the CLI's words as it always printed them)
CASES: list[tuple[str, Refused, str, str]] = [
    ("ack-by",
     lambda s: acknowledge_flag(s, flag_id=1, by=" ", note=None, now=NOW),
     "the acknowledgement must name who acknowledged the flag",
     "--by must name who acknowledged the flag"),
    ("ack-note",
     lambda s: acknowledge_flag(s, flag_id=1, by="Kim", note="\x1b", now=NOW),
     "note must not contain control characters",
     "--note must not contain control characters"),
    ("waiver",
     lambda s: waive_slot(s, mrn=MRN, panel="cbc", due_on=TODAY, by="", reason="",
                          now=NOW),
     "a waiver needs who waived it and a reason",
     "a waiver needs --by and a --reason"),
    ("drop",
     lambda s: drop_item(s, 1, reason="", actor="t", now=NOW),
     "reason must say why the item is dropped",
     "--reason must say why the item is dropped"),
    ("sex",
     lambda s: add_patient(s, mrn="N1", name="N", email=None, born_on=None, sex="f",
                           site="main", actor="t", now=NOW),
     "sex must be one of F, M, X, got 'f'",
     "--sex must be one of F, M, X, got 'f'"),
    ("dob",
     lambda s: add_patient(s, mrn="N1", name="N", email=None, born_on=date(2030, 1, 1),
                           sex=None, site="main", actor="t", now=NOW),
     "date of birth 2030-01-01 is in the future",
     "--dob 2030-01-01 is in the future"),
    ("email",
     lambda s: set_email_preference(s, mrn=MRN, address="nobody", opt_out=None, actor="t",
                                    now=NOW),
     "email address 'nobody' is not an email address",
     "--email 'nobody' is not an email address"),
    ("pregnancy",
     lambda s: add_pregnancy(s, mrn=MRN, from_on=date(2024, 5, 1), to_on=date(2024, 4, 1),
                             actor="t", now=NOW),
     "pregnancy end 2024-04-01 is before pregnancy start 2024-05-01",
     "--to 2024-04-01 is before --from 2024-05-01"),
    ("ref-low",
     lambda s: add_result(s, result_in("tsh", "2", "mIU/L", TODAY, ref_low=-1.0), today=TODAY,
                          now=NOW, rules=CONFIG.rule_settings),
     "reference range low end -1.0 is not a finite non-negative number",
     "--ref-low -1.0 is not a finite non-negative number"),
    ("role",
     lambda s: add_user(s, name="kim", role="boss", password="x" * 12, actor="t", now=NOW),
     "role must be nurse or admin, got 'boss'",
     "--role must be nurse or admin, got 'boss'"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "product", "cli"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_each_service_names_its_field_and_the_cli_says_its_option(
    engine: Engine, call: Refused, product: str, cli: str
) -> None:
    enrol(engine)
    with pytest.raises(FieldError) as refused:
        with unit_of_work(engine, PROTOCOL) as session:
            call(session)
    assert str(refused.value) == product
    assert refused.value.worded(OPTION_NAMES) == cli


@pytest.mark.parametrize(
    ("error", "page"),
    [
        (FieldError(Field.REASON, " must not contain control characters"),
         "The reason must not contain control characters"),
        (FieldError(Field.REF_HIGH, " -2.0 is not a finite non-negative number"),
         "The range's high end -2.0 is not a finite non-negative number"),
        (FieldError(Field.EMAIL, " 'x' is not an email address"),
         "The address 'x' is not an email address"),
    ],
)  # fmt: skip
def test_a_page_says_the_forms_label(error: FieldError, page: str) -> None:
    assert refusal(error) == page


def test_every_form_label_is_a_sentence_start() -> None:
    assert all(label[:1].isupper() for label in FORM_LABELS.values())
    with pytest.raises(FieldError) as refused:
        checked_note("\x00", Field.NOTE)
    assert refusal(refused.value) == "The note must not contain control characters"
