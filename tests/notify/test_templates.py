"""Every email template: renders, one-line subject, escaping, StrictUndefined, what patients see."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from itertools import combinations
from typing import Any

import pytest
from jinja2 import UndefinedError

from monitor.notify.messages import (
    ALL_CLEAR,
    Clinic,
    DigestAlert,
    DigestDueSoon,
    DigestEscalation,
    DigestOverdue,
    DigestUnreachable,
    TestDue,
    describe_panels,
    long_date,
    patient_tests_due_context,
    patient_tests_overdue_context,
    staff_daily_digest_context,
    staff_escalation_context,
    staff_urgent_flag_context,
)
from monitor.notify.registry import MESSAGES
from monitor.notify.render import RenderedEmail, render_email
from monitor.resources import resource_path

CLINIC = Clinic("Riverside Neurology", "020 7946 0000")
DUE_ON = date(2026, 3, 12)
PATIENT_MESSAGES = ("patient-tests-due", "patient-tests-overdue")
BUILDERS = {
    "patient-tests-due": patient_tests_due_context,
    "patient-tests-overdue": patient_tests_overdue_context,
}
PANELS = ("cbc", "creatinine", "urinalysis", "tsh", "lft", "skin")

# What a patient's record holds that must never reach their inbox.
PATIENT_MRN = "MRN-770415"
PATIENT_BORN_ON = date(1984, 7, 23)
PATIENT_RESULT = ("72", "10^9/L")

FORBIDDEN = re.compile(
    r"alemtuzumab|lemtrada|campath|multiple\s+sclerosis|\bms\b|sclerosis|\bmrn\b|date of birth"
    r"|\bdob\b|born|urgent|emergency|abnormal|flag|result|infusion|platelet|diagnos",
    re.IGNORECASE,
)

ALERT = DigestAlert(
    flag_id=12,
    mrn="A0001",
    severity="emergency",
    analyte="platelets",
    value="18",
    unit="10^9/L",
    collected_on=date(2026, 3, 10),
    message="Platelets 18 x10^9/L, below 50 (emergency).",
)


ESCALATION = DigestEscalation(
    "A0005", date(2026, 2, 1), 37, ("cbc", "creatinine"), "no-answer", date(2026, 3, 1)
)


def sample_context(message: str, first_name: str = "Ann") -> dict[str, Any]:
    tests = [TestDue("cbc", DUE_ON), TestDue("tsh", DUE_ON), TestDue("skin", date(2026, 4, 2))]
    if message == "patient-tests-due":
        return patient_tests_due_context(first_name, CLINIC, tests)
    if message == "patient-tests-overdue":
        return patient_tests_overdue_context(first_name, CLINIC, tests)
    if message == "staff-daily-digest":
        return staff_daily_digest_context(
            CLINIC,
            "main",
            DUE_ON,
            [DigestOverdue("A0002", "cbc", date(2026, 2, 1), 33, 1, "urgent")],
            [ALERT],
            [DigestUnreachable("A0003", "no email address")],
            "2 messages are waiting to be retried",
            due_soon=[DigestDueSoon("A0004", "tsh", date(2026, 3, 15))],
            escalations=[ESCALATION],
            escalate_after_days=21,
        )
    if message == "staff-escalation":
        return staff_escalation_context(CLINIC, ESCALATION, "main", 21)
    assert message == "staff-urgent-flag"
    return staff_urgent_flag_context(CLINIC, ALERT, "main")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script", "title")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


# Every template ----------------------------------------------------------------------------


def test_every_template_folder_is_a_known_message_with_three_files():
    folder = resource_path("templates") / "email"
    names = {p.name for p in folder.iterdir() if p.is_dir() and p.name != "_base"}
    assert names == set(MESSAGES)
    for name in (*MESSAGES, "_base"):
        assert {p.name for p in (folder / name).iterdir()} == {
            "subject.txt",
            "body.txt",
            "body.html",
        }


@pytest.mark.parametrize("message", MESSAGES)
def test_every_message_renders_for_sample_data(message):
    email = render_email(message, sample_context(message))
    assert isinstance(email, RenderedEmail)
    assert email.subject
    assert email.text.endswith("\n") and not email.text.endswith("\n\n")
    assert "\n\n\n" not in email.text
    assert email.html.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("message", MESSAGES)
def test_every_subject_is_one_line(message):
    subject = render_email(message, sample_context(message)).subject
    assert subject == subject.strip()
    assert "\n" not in subject and "\r" not in subject


@pytest.mark.parametrize("message", MESSAGES)
def test_a_line_break_in_the_subject_is_refused(message):
    key = "clinic_name" if message in PATIENT_MESSAGES else "site"
    context = {**sample_context(message), key: "north\nBcc: someone@example.com"}
    with pytest.raises(ValueError, match="one non-empty line"):
        render_email(message, context)


@pytest.mark.parametrize("message", MESSAGES)
def test_the_style_block_is_inlined(message):
    html = render_email(message, sample_context(message)).html
    assert "<style" not in html
    assert 'style="' in html
    assert "<table" in html and 'role="presentation"' in html


@pytest.mark.parametrize("message", MESSAGES)
def test_the_text_part_carries_what_the_html_shows(message):
    context = sample_context(message)
    email = render_email(message, context)
    if message in PATIENT_MESSAGES:
        wanted = [item["due_by"] for item in context["items"]]
        wanted += [context["first_name"], CLINIC.phone]
    elif message == "staff-escalation":
        wanted = ["A0005", "2026-02-01", "37 days", "cbc, creatinine", "no-answer on 2026-03-01"]
    else:
        wanted = ["A0001", "platelets", "18"]
    for value in wanted:
        assert value in email.text
        assert value in visible_text(email.html)


def test_an_unknown_message_is_refused():
    with pytest.raises(ValueError, match="unknown message 'patient-results'"):
        render_email("patient-results", {})


# Escaping and StrictUndefined ---------------------------------------------------------------


@pytest.mark.parametrize("message", PATIENT_MESSAGES)
def test_a_name_with_markup_is_escaped_in_html_and_literal_in_text(message):
    name = "<script>alert(1)</script>"
    email = render_email(message, sample_context(message, first_name=name))
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert f"Dear {name}," in email.text


def test_a_clinic_name_with_markup_is_escaped_in_staff_html():
    context = {**sample_context("staff-urgent-flag"), "clinic_name": "A & B <i>"}
    email = render_email("staff-urgent-flag", context)
    assert "A &amp; B &lt;i&gt;" in email.html
    assert "A & B <i>" in email.text


@pytest.mark.parametrize(
    ("message", "key"),
    [(message, key) for message in MESSAGES for key in sample_context(message)],
)
def test_a_missing_context_key_raises(message, key):
    context = sample_context(message)
    del context[key]
    with pytest.raises(UndefinedError):
        render_email(message, context)


def test_a_missing_nested_key_raises():
    context = sample_context("patient-tests-due")
    context["items"] = [{"what": "your thyroid blood test", "due_by": "Thursday 12 March 2026"}]
    with pytest.raises(UndefinedError):
        render_email("patient-tests-due", context)


# What a patient email may say ---------------------------------------------------------------


def _panel_sets() -> list[tuple[str, ...]]:
    sets = [combo for size in (1, 2, 6) for combo in combinations(PANELS, size)]
    return [*sets, ("jcv_antibody",)]


@pytest.mark.parametrize("message", PATIENT_MESSAGES)
@pytest.mark.parametrize("panels", _panel_sets(), ids="+".join)
def test_patient_emails_say_only_name_tests_dates_and_clinic(message, panels):
    tests = [TestDue(panel, DUE_ON) for panel in panels] + [TestDue(panels[0], date(2026, 6, 1))]
    build = BUILDERS[message]
    email = render_email(message, build("Ann", CLINIC, tests))
    assert email.subject == "Reminder from Riverside Neurology"
    for part in (email.subject, email.text, email.html):
        assert not FORBIDDEN.search(part), FORBIDDEN.search(part)
        for value in (PATIENT_MRN, PATIENT_BORN_ON.isoformat(), "23 July 1984", *PATIENT_RESULT):
            assert value not in part
    for part in (email.subject, email.text, visible_text(email.html)):
        # Once the phone number and the due-by dates are taken out, no number is left:
        # no MRN, date of birth, result value or infusion date can have slipped in.
        rest = part.replace(CLINIC.phone, "")
        for day in (DUE_ON, date(2026, 6, 1)):
            rest = rest.replace(long_date(day), "")
        assert not re.search(r"\d", rest), rest


def test_the_due_reminder_names_the_tests_and_dates_in_plain_words():
    tests = [
        TestDue("cbc", DUE_ON),
        TestDue("creatinine", DUE_ON),
        TestDue("tsh", DUE_ON),
        TestDue("skin", date(2026, 4, 2)),
    ]
    email = render_email("patient-tests-due", patient_tests_due_context("Ann", CLINIC, tests))
    assert email.text.startswith("Dear Ann,\n")
    assert (
        "your routine blood and urine tests and your thyroid blood test, "
        "due by Thursday 12 March 2026" in email.text
    )
    assert "your yearly skin check, due by Thursday 2 April 2026" in email.text
    assert "call us on 020 7946 0000" in email.text
    assert "Due by Thursday 12 March 2026" in email.html


def test_the_overdue_reminder_is_gentle():
    tests = [TestDue("tsh", DUE_ON)]
    email = render_email(
        "patient-tests-overdue", patient_tests_overdue_context("Ann", CLINIC, tests)
    )
    assert "we have not yet received" in email.text
    assert "your thyroid blood test, due by Thursday 12 March 2026" in email.text
    assert "Please book it as soon as you can" in email.text
    assert "If you have already had it done, thank you: please ignore this message" in email.text


def test_the_first_name_is_trimmed():
    context = patient_tests_due_context("  Ann ", CLINIC, [TestDue("cbc", DUE_ON)])
    assert context["first_name"] == "Ann"


def test_a_patient_reminder_needs_a_test():
    with pytest.raises(ValueError):
        patient_tests_due_context("Ann", CLINIC, [])


@pytest.mark.parametrize(
    ("panels", "expected"),
    [
        (["cbc"], "them"),
        (["tsh"], "it"),
        (["skin"], "it"),
        (["tsh", "skin"], "them"),
    ],
)
def test_one_test_is_it_and_several_are_them(panels, expected):
    tests = [TestDue(panel, DUE_ON) for panel in panels]
    assert patient_tests_due_context("Ann", CLINIC, tests)["it_or_them"] == expected


def test_tests_are_grouped_by_due_date_in_date_order():
    tests = [
        TestDue("skin", date(2026, 4, 2)),
        TestDue("lft", DUE_ON),
        TestDue("cbc", DUE_ON),
    ]
    items = patient_tests_due_context("Ann", CLINIC, tests)["items"]
    assert [item["sentence"] for item in items] == [
        "your routine blood and urine tests, due by Thursday 12 March 2026",
        "your yearly skin check, due by Thursday 2 April 2026",
    ]


@pytest.mark.parametrize(
    ("panels", "expected"),
    [
        ([], []),
        (["cbc", "creatinine", "urinalysis", "lft"], ["your routine blood and urine tests"]),
        (["tsh"], ["your thyroid blood test"]),
        (
            ["skin", "tsh", "cbc", "tsh"],
            [
                "your routine blood and urine tests",
                "your thyroid blood test",
                "your yearly skin check",
            ],
        ),
        (["jcv_antibody"], ["your routine blood and urine tests"]),
    ],
)
def test_describe_panels(panels, expected):
    assert describe_panels(panels) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 12), "Thursday 12 March 2026"),
        (date(2024, 2, 29), "Thursday 29 February 2024"),
        (date(2027, 1, 3), "Sunday 3 January 2027"),
    ],
)
def test_long_date(day, expected):
    assert long_date(day) == expected


# Staff emails -------------------------------------------------------------------------------


def _digest(**lists: Any) -> RenderedEmail:
    context = staff_daily_digest_context(
        CLINIC,
        "north",
        DUE_ON,
        lists.get("overdue", []),
        lists.get("alerts", []),
        lists.get("unreachable", []),
        lists.get("mail_problem"),
    )
    return render_email("staff-daily-digest", context)


def test_an_empty_digest_says_all_clear():
    email = _digest()
    assert email.subject == "Daily digest, site north, 2026-03-12: all clear"
    assert ALL_CLEAR in email.text
    assert ALL_CLEAR in visible_text(email.html)


@pytest.mark.parametrize(
    "lists",
    [
        {"overdue": [DigestOverdue("A0002", "cbc", date(2026, 2, 1), 33, 1, None)]},
        {"alerts": [ALERT]},
        {"unreachable": [DigestUnreachable("A0003", "opted out of email")]},
    ],
)
def test_a_digest_with_anything_open_is_not_all_clear(lists):
    email = _digest(**lists)
    assert "All clear" not in email.text
    assert "all clear" not in email.subject
    assert "All clear" not in email.html


def test_the_digest_lists_overdue_in_the_order_given_flags_and_unreachable_patients():
    overdue = [
        DigestOverdue("A0009", "tsh", date(2026, 1, 10), 50, 2, "emergency"),
        DigestOverdue("A0002", "cbc", date(2026, 2, 1), 33, 1, None),
    ]
    unreachable = [DigestUnreachable("A0003", "delivery failed: 550 mailbox unavailable")]
    email = _digest(overdue=overdue, alerts=[ALERT], unreachable=unreachable)
    assert email.subject == (
        "Daily digest, site north, 2026-03-12: 2 overdue, 1 open urgent flag, 1 reminder not sent"
    )
    text = email.text
    assert text.index("A0009") < text.index("A0002")
    assert "A0009: tsh due 2026-01-10, 50 days overdue, 2 missed, open emergency flag" in text
    assert "#12 EMERGENCY A0001: platelets 18 10^9/L, collected 2026-03-10." in text
    assert "A0003: delivery failed: 550 mailbox unavailable" in text
    html = visible_text(email.html)
    assert html.index("A0009") < html.index("A0002")
    assert "delivery failed: 550 mailbox unavailable" in html


@pytest.mark.parametrize(
    "given",
    [
        "3 messages are waiting to be retried",
        "Email delivery had problems: 3 messages are waiting to be retried",
    ],
)
def test_the_digest_reports_mail_problems_once(given):
    email = _digest(mail_problem=given)
    line = "Email delivery had problems: 3 messages are waiting to be retried"
    assert email.text.count(line) == 1
    assert line in email.html
    assert ALL_CLEAR in email.text


def test_the_digest_leaves_out_the_mail_line_when_delivery_is_fine():
    assert "Email delivery" not in _digest().text


def test_the_urgent_flag_email_carries_mrn_value_and_severity():
    email = render_email("staff-urgent-flag", staff_urgent_flag_context(CLINIC, ALERT, "north"))
    assert email.subject == "EMERGENCY flag #12: platelets, site north"
    assert "MRN:        A0001" in email.text
    assert "Value:      18 10^9/L" in email.text
    assert "monitor flag ack 12" in email.text
    html = visible_text(email.html)
    assert "A0001" in html and "18 10^9/L" in html and "EMERGENCY" in html


def test_the_digest_names_the_protocol_beside_the_panel_only_when_rows_span_several() -> None:
    overdue = [
        DigestOverdue("A1", "lft", date(2026, 2, 1), 33, 0, None, protocol="alemtuzumab"),
        DigestOverdue("A1", "lft", date(2026, 2, 3), 31, 0, None, protocol="site_nat"),
    ]
    both = render_email(
        "staff-daily-digest", staff_daily_digest_context(CLINIC, "main", DUE_ON, overdue, [], [])
    )
    one = render_email(
        "staff-daily-digest",
        staff_daily_digest_context(CLINIC, "main", DUE_ON, overdue[:1], [], []),
    )
    assert "lft (alemtuzumab)" in both.text and "lft (site_nat)" in both.text
    assert "lft (site_nat)" in both.html
    assert "(alemtuzumab)" not in one.text and "A1: lft due" in one.text


def test_a_reminder_words_each_test_by_its_protocols_patient_words() -> None:
    """Words given by a protocol's panel replace the alemtuzumab wording; alemtuzumab's phrases
    keep their order and any other follows in the order given, each once."""
    tests = [
        TestDue("jcv", DUE_ON, "your routine blood test"),
        TestDue("lft", DUE_ON, "your liver blood test"),
        TestDue("tsh", DUE_ON),
        TestDue("cbc", DUE_ON, "your liver blood test"),
    ]
    context = patient_tests_due_context("Ann", CLINIC, tests)
    [item] = context["items"]
    assert item["what"] == (
        "your thyroid blood test, your routine blood test and your liver blood test"
    )
