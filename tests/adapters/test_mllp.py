"""MLLP round trips on a local port with the `hl7` package's own client (hl7.client.MLLPClient).

The listener runs in-process in its thread; every ACK is read only after the message's
transaction has committed, so the rows must already be visible when the ACK arrives.
"""

import logging
import socket
from datetime import UTC, date, datetime

import pytest
from hl7.client import MLLPClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.adapters.mllp import Hl7Listener
from monitor.config import Config
from monitor.store.models import QuarantineItem, Result

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def oru(control: str, *obx: str, mrn: str = "A1", person: str = "") -> str:
    """`person` is PID-5 onwards, e.g. "||Example^Ann||19840502"."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1",
                f"PID|1||{mrn}^^^CITY^MR{person}",
                "OBR|1||ACC-" + control + "|58410-2^CBC^LN|||20240212083000",
                *obx,
            ]
        )
        + "\r"
    )


PLATELETS = "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F"
UNKNOWN = "OBX|2|NM|2161-8^Creat urine^LN||59|mg/dL|||||F"


@pytest.fixture
def listener(cli, engine):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    server = Hl7Listener(
        engine, Config(), "127.0.0.1", 0, now_fn=lambda: NOW, today_fn=lambda: date(2024, 3, 1)
    )
    server.start()
    yield server
    server.stop()


def send(listener, message: str) -> str:
    with MLLPClient("127.0.0.1", listener.port) as client:
        return client.send_message(message).decode("utf-8")


def counts(engine) -> tuple[int, int]:
    with Session(engine) as session:
        results = session.scalar(select(func.count()).select_from(Result))
        quarantined = session.scalar(select(func.count()).select_from(QuarantineItem))
    return results, quarantined


def test_a_good_message_gets_aa_and_is_stored_before_the_ack(listener, engine):
    ack = send(listener, oru("M1", PLATELETS))
    assert "MSA|AA|M1" in ack and ack.startswith("\x0bMSH|")
    assert counts(engine) == (1, 0)  # committed before the ACK was written
    assert "MSA|AA|M1" in send(listener, oru("M1", PLATELETS))
    assert counts(engine) == (1, 0)  # a resend stores nothing new


def test_a_partly_quarantined_message_gets_ae_with_the_reason(listener, engine):
    ack = send(listener, oru("M2", PLATELETS, UNKNOWN))
    assert "MSA|AE|M2" in ack and "2161-8" in ack
    assert counts(engine) == (1, 1)


def test_garbage_and_unknown_patients_get_ar(listener, engine):
    assert "MSA|AR" in send(listener, "this is not HL7")
    assert "MSA|AR|M3" in send(listener, oru("M3", PLATELETS, mrn="NOBODY"))
    assert counts(engine) == (0, 2)


def test_the_server_survives_a_client_that_disconnects_mid_message(listener, engine):
    with socket.create_connection(("127.0.0.1", listener.port)) as raw:
        raw.sendall(b"\x0b" + oru("M4", PLATELETS).encode()[:40])
    with socket.create_connection(("127.0.0.1", listener.port)) as raw:
        raw.sendall(b"no start block\x1c\r")
        assert b"MSA|AR" in raw.recv(4096)
    assert "MSA|AA|M5" in send(listener, oru("M5", PLATELETS))
    assert counts(engine) == (1, 0)


def test_several_messages_on_one_connection(listener, engine):
    with MLLPClient("127.0.0.1", listener.port) as client:
        first = client.send_message(oru("M6", PLATELETS)).decode()
        second = client.send_message(oru("M7", UNKNOWN.replace("OBX|2", "OBX|1"))).decode()
    assert "MSA|AA|M6" in first and "MSA|AR|M7" in second


def test_an_out_of_range_collection_time_is_quarantined_with_an_ack(listener, engine):
    """Issue 11 item 5: OBR-7 99991231235959-1200 is past year 9999 in UTC. The message gets an
    ACK (so the sender does not resend it forever) and the next one on the connection goes in."""
    far = oru("M8", PLATELETS).replace("20240212083000", "99991231235959-1200")
    with MLLPClient("127.0.0.1", listener.port) as client:
        first = client.send_message(far).decode()
        second = client.send_message(oru("M9", PLATELETS)).decode()
    assert "MSA|AR|M8" in first and "out of range" in first
    assert "MSA|AA|M9" in second
    assert counts(engine) == (1, 1)


def test_an_unexpected_error_is_quarantined_and_acked_not_left_unanswered(
    listener, engine, monkeypatch
):
    """Only a database that cannot store the message withholds the ACK; a fault in reading it
    quarantines the message whole and answers AR."""

    def broken(*_args, **_kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr("monitor.adapters.mllp.parse_hl7", broken)
    ack = send(listener, oru("M10", PLATELETS))
    assert "MSA|AR|M10" in ack and "could not be read" in ack
    with Session(engine) as session:
        [item] = session.scalars(select(QuarantineItem)).all()
    assert item.raw.startswith("MSH|") and "OverflowError" in item.reason


@pytest.mark.parametrize(
    ("person", "reason"),
    [
        ("||Example^Ann||19840503", "date of birth differs"),
        ("||Sample^Ann||19840502", "family name differs"),
    ],
)
def test_a_message_for_someone_else_under_the_same_mrn_gets_ar_and_is_kept_whole(
    listener, engine, cli, caplog, person, reason
):
    """Issue 10 item 1 over MLLP: AR, nothing stored, one quarantine item holding the whole
    message; the values are in neither the ACK nor the log."""
    cli.ok("patient", "edit", "A1", "--dob", "1984-05-02")
    caplog.set_level(logging.DEBUG)
    message = oru("M11", PLATELETS, UNKNOWN, person=person)
    ack = send(listener, message)
    assert "MSA|AR|M11" in ack and f"identity mismatch: {reason}" in ack
    assert counts(engine) == (0, 1)
    with Session(engine) as session:
        [item] = session.scalars(select(QuarantineItem)).all()
    assert item.raw == message.rstrip("\r")
    for value in ("19840503", "Sample"):
        assert value not in ack and value not in caplog.text
    assert "MSA|AA|M12" in send(listener, oru("M12", PLATELETS, person="||EXAMPLE^ANN||19840502"))
    assert counts(engine) == (1, 1)
