"""MLLP frames over the limit (issue 11 item 10), with the `hl7` package's own client.

A frame over `[hl7] max_message_bytes` is read to its end and thrown away, never held whole;
the sender gets AR for that message (by its control id) and the connection stays in step, so
the next message gets its own ACK. A frame that never ends is cut off with a logged reason.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from hl7.client import MLLPClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.adapters import limits
from monitor.adapters.mllp import Hl7Listener
from monitor.config import Config
from monitor.store.models import QuarantineItem, Result
from tests.conftest import Cli

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
PLATELETS = "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F"


def oru(control: str, *obx: str) -> str:
    segments = [
        f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1",
        "PID|1||A1^^^CITY^MR",
        f"OBR|1||ACC-{control}|58410-2^CBC^LN|||20240212083000",
        *obx,
    ]
    return "\r".join(segments) + "\r"


def embedded_report(size: int) -> str:
    """An OBX carrying a PDF (ED), the honest way a message gets big."""
    return "OBX|2|ED|11502-2^Report^LN||^application^pdf^Base64^" + "A" * size + "||||||F"


@pytest.fixture
def listener(cli: Cli, engine: Engine) -> Iterator[Hl7Listener]:
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    server = Hl7Listener(
        engine, Config(), "127.0.0.1", 0, now_fn=lambda: NOW, today_fn=lambda: date(2024, 3, 1)
    )
    server.start()
    yield server
    server.stop()


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        results = session.scalar(select(func.count()).select_from(Result))
        quarantined = session.scalar(select(func.count()).select_from(QuarantineItem))
    return results or 0, quarantined or 0


def test_a_4_mib_frame_gets_ar_by_its_control_id_and_the_next_message_its_own_ack(
    listener: Hl7Listener, engine: Engine
) -> None:
    big = oru("BIG1", PLATELETS, embedded_report(4 * 1024 * 1024))
    with MLLPClient("127.0.0.1", listener.port) as client:
        refused = client.send_message(big).decode()
        accepted = client.send_message(oru("NEXT", PLATELETS)).decode()

    assert "MSA|AR|BIG1|" in refused
    assert f"the MLLP message is {len(big.encode()):,} bytes long" in refused
    assert "over the limit of 1,048,576" in refused
    assert "MSA|AA|NEXT" in accepted
    assert counts(engine) == (1, 1)  # the next message's result; the big one quarantined
    with Session(engine) as session:
        item = session.scalars(select(QuarantineItem)).one()
    assert item.raw == big.split("\r", 1)[0]  # the MSH alone: a retry cannot take in part
    assert item.source == "CITYLAB" and "over the limit of 1,048,576" in item.reason


def test_the_limit_is_a_setting(cli: Cli, engine: Engine) -> None:
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    config = Config.model_validate({"hl7": {"max_message_bytes": 8 * 1024 * 1024}})
    server = Hl7Listener(
        engine, config, "127.0.0.1", 0, now_fn=lambda: NOW, today_fn=lambda: date(2024, 3, 1)
    )
    server.start()
    try:
        with MLLPClient("127.0.0.1", server.port) as client:
            ack = client.send_message(oru("PDF", PLATELETS, embedded_report(4 * 1024 * 1024)))
    finally:
        server.stop()
    # Taken in: the platelets stored, the report quarantined as a code we do not monitor.
    assert "MSA|AE|PDF|" in ack.decode() and "too large" not in ack.decode()
    assert counts(engine) == (1, 1)


def test_a_message_under_the_byte_limit_with_too_many_obx_gets_ar(
    listener: Hl7Listener, engine: Engine
) -> None:
    obx = [PLATELETS.replace("OBX|1", f"OBX|{n}") for n in range(1, 1_502)]
    with MLLPClient("127.0.0.1", listener.port) as client:
        ack = client.send_message(oru("MANY", *obx)).decode()
    assert "MSA|AR|MANY|" in ack and "1,501 OBX segments, over the limit of 1,000" in ack
    assert counts(engine) == (0, 1)


def test_a_frame_that_never_ends_closes_the_connection_with_a_logged_reason(
    listener: Hl7Listener,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(limits, "MAX_DISCARDED_FRAME_BYTES", 3 * 1024 * 1024)
    caplog.set_level(logging.WARNING, logger="monitor.mllp")
    endless = b"\x0b" + oru("NOEND", PLATELETS).encode() + b"A" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as raw:
        try:
            for _ in range(8):  # 8 MiB and no end marker
                raw.sendall(endless)
        except OSError:
            pass  # the listener closed the connection while we were still sending
        try:
            answer = raw.recv(4096)
        except OSError:
            answer = b""
    assert answer == b""  # no ACK: there was no message to answer
    assert "MLLP frame with no end marker within 3145728 bytes: connection closed" in caplog.text
    assert "NOEND" not in caplog.text and "A1" not in caplog.text
    with MLLPClient("127.0.0.1", listener.port) as client:  # the listener carries on
        assert "MSA|AA|AFTER" in client.send_message(oru("AFTER", PLATELETS)).decode()
    assert counts(engine) == (1, 0)
