"""SMS reminders: their text (at most 160 characters, nothing a lock screen should not show) and
the GOV.UK Notify transport, through Notify's own client, against a local server that speaks
Notify's endpoints (tests/notify/notify_server.py)."""

from __future__ import annotations

from datetime import date

import jwt
import pytest

from monitor.config import SMS_NAME_AND_PHONE, ConfigError, SmsConfig
from monitor.notify.gov_notify import NotifySmsTransport
from monitor.notify.messages import Clinic, TestDue
from monitor.notify.registry import PATIENT_MESSAGES, registered
from monitor.notify.sms import SMS_LIMIT, Sms, render_sms
from monitor.notify.transports import DeliveryError, TransportError
from tests.conftest import clinic_config
from tests.notify.notify_server import API_KEY, SECRET, SERVICE_ID, NotifyStub, notify_server

TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
CLINIC = Clinic("Test MS Clinic", "0100 000 0000")
EVERY_PANEL = ("cbc", "creatinine", "urinalysis", "tsh", "lft", "skin")
LONGEST_DATE = date(2026, 9, 30)  # "30 September 2026": the longest date an SMS says


def sms_text(message: str, clinic: Clinic, tests: list[TestDue]) -> str:
    """The SMS the daily cycle would queue for a patient called Alex."""
    return render_sms(message, registered(message).draft("Alex", clinic, tests).sms_context())


# What a patient's message must never carry (SPEC §5): the drug, its brand, protocol names,
# the MRN, the date of birth, a result value, the patient's name.
NEVER = ("alemtuzumab", "Lemtrada", "natalizumab", "ocrelizumab", "MS0001", "1980", "72",
         "platelet", "Alex", "Morgan")  # fmt: skip


@pytest.mark.parametrize("message", PATIENT_MESSAGES)
@pytest.mark.parametrize(
    "tests",
    [
        [TestDue("tsh", date(2026, 3, 12))],
        [TestDue(panel, LONGEST_DATE) for panel in EVERY_PANEL],
        [TestDue("cbc", date(2026, 3, 12)), TestDue("skin", date(2026, 5, 1))],
        [TestDue("jcv", date(2026, 3, 12), "your JC virus blood test, a long name " * 4)],
    ],
)
def test_the_text_fits_160_characters_and_says_only_what_a_lock_screen_may(
    message: str, tests: list[TestDue]
) -> None:
    text = sms_text(message, CLINIC, tests)

    assert len(text) <= SMS_LIMIT
    assert "\n" not in text
    assert "Test MS Clinic" in text and "0100 000 0000" in text
    assert min(test.due_on for test in tests).strftime("%B %Y") in text
    for word in NEVER:
        assert word.lower() not in text.lower()


def test_the_first_due_date_and_the_plain_words_when_they_fit() -> None:
    tests = [TestDue("skin", date(2026, 5, 1)), TestDue("tsh", date(2026, 3, 12))]
    text = sms_text("patient-tests-due", CLINIC, tests)
    assert text == (
        "Reminder from Test MS Clinic: your thyroid blood test and your yearly skin check are "
        "due by 12 March 2026. To book or ask, call 0100 000 0000."
    )


@pytest.mark.parametrize("message", PATIENT_MESSAGES)
def test_the_longest_clinic_name_and_phone_the_configuration_takes_still_fit(message: str) -> None:
    phone = "0" * 20
    clinic = Clinic("N" * (SMS_NAME_AND_PHONE - len(phone)), phone)
    tests = [TestDue(panel, LONGEST_DATE) for panel in EVERY_PANEL]
    text = sms_text(message, clinic, tests)
    assert len(text) <= SMS_LIMIT
    assert "your tests" in text  # the short wording stood in for the plain words


def test_a_clinic_name_too_long_for_an_sms_is_refused_when_sms_is_enabled() -> None:
    name = "N" * (SMS_NAME_AND_PHONE - len("0100 000 0000") + 1)
    sms = {"enabled": True, "template_id": TEMPLATE_ID}
    with pytest.raises(ConfigError, match=r"clinic.name and clinic.phone together are 67"):
        clinic_config({"clinic": {"name": name}, "sms": sms})
    clinic_config({"clinic": {"name": name}})  # without SMS the name is fine


def test_a_staff_message_has_no_sms() -> None:
    with pytest.raises(ValueError, match="only patient reminders"):
        render_sms("staff-daily-digest", {})
    with pytest.raises(ValueError, match="only patient reminders"):
        registered("staff-urgent-flag").draft().sms_context()


# --- the transport against the local Notify ---------------------------------------------------


def transport(stub: NotifyStub, *, timeout: float = 5.0) -> NotifySmsTransport:
    settings = SmsConfig(
        enabled=True, base_url=stub.url, template_id=TEMPLATE_ID, timeout_seconds=timeout
    )
    return NotifySmsTransport(settings, API_KEY)


SMS = Sms(phone="07700 900123", text="Reminder from Test MS Clinic", reference="outbox-1-x")


def test_a_2xx_reply_is_sent_with_the_template_personalisation_reference_and_a_jwt() -> None:
    with notify_server() as stub:
        transport(stub).send_sms(SMS)

    (post,) = stub.posts
    assert post == {
        "phone_number": "07700 900123",
        "template_id": TEMPLATE_ID,
        "personalisation": {"message": "Reminder from Test MS Clinic"},
        "reference": "outbox-1-x",
    }
    claims = jwt.decode(stub.tokens[0], SECRET, algorithms=["HS256"])
    assert claims["iss"] == SERVICE_ID


@pytest.mark.parametrize(
    ("answer", "permanent", "code", "words"),
    [
        (429, False, 429, "RateLimitError"),
        (500, False, 500, "Internal server error"),
        (400, True, 400, "Not a UK mobile number"),
    ],
)
def test_429_and_5xx_are_temporary_and_other_4xx_permanent(
    answer: int, permanent: bool, code: int, words: str
) -> None:
    with notify_server() as stub:
        stub.script = [answer]
        with pytest.raises(DeliveryError) as raised:
            transport(stub).send_sms(SMS)

    assert (raised.value.permanent, raised.value.code) == (permanent, code)
    assert words in str(raised.value)
    assert "07700" not in str(raised.value)  # the error (kept on the row) names no number


def test_a_timeout_is_temporary() -> None:
    with notify_server() as stub:
        stub.script = ["hang"]
        with pytest.raises(DeliveryError) as raised:
            transport(stub, timeout=1).send_sms(SMS)
        stub.release.set()

    assert raised.value.permanent is False
    assert raised.value.code is None
    assert "timeout" in str(raised.value)


def test_each_send_asks_notify_first_and_sends_nothing_when_it_has_the_message() -> None:
    with notify_server() as stub:
        stub.script = ["hang-kept"]  # Notify took it, but the reply never came
        sender = transport(stub, timeout=1)
        with pytest.raises(DeliveryError):
            sender.send_sms(SMS)
        stub.release.set()
        sender.send_sms(SMS)

    assert len(stub.posts) == 1
    assert stub.lookups == ["outbox-1-x", "outbox-1-x"]


def test_a_retry_sends_when_notify_does_not_have_it() -> None:
    with notify_server() as stub:
        stub.script = [500]
        sender = transport(stub)
        with pytest.raises(DeliveryError):
            sender.send_sms(SMS)
        sender.send_sms(SMS)

    assert len(stub.posts) == 2
    assert stub.lookups == ["outbox-1-x", "outbox-1-x"]


def test_a_wrong_key_is_refused_by_notify_for_good() -> None:
    wrong = f"monitor_test-{SERVICE_ID}-00000000-0000-4000-8000-000000000000"
    with notify_server() as stub:
        settings = SmsConfig(enabled=True, base_url=stub.url, template_id=TEMPLATE_ID)
        with pytest.raises(DeliveryError) as raised:
            NotifySmsTransport(settings, wrong).send_sms(SMS)

    assert (raised.value.permanent, raised.value.code) == (True, 403)
    assert stub.posts == []


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (None, "MONITOR_NOTIFY_API_KEY is not in the environment"),
        ("", "MONITOR_NOTIFY_API_KEY is not in the environment"),
        ("not-a-key", "MONITOR_NOTIFY_API_KEY is not a Notify API key"),
        (API_KEY[:-1], "MONITOR_NOTIFY_API_KEY is not a Notify API key"),
    ],
)
def test_a_missing_or_malformed_key_is_a_configuration_error_naming_the_variable(
    key: str | None, words: str
) -> None:
    settings = SmsConfig(enabled=True, template_id=TEMPLATE_ID)
    with pytest.raises(TransportError, match=words) as raised:
        NotifySmsTransport(settings, key)
    if key:
        assert key not in str(raised.value)
