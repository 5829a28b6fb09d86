"""HL7 over MLLP: an asyncio listener (`hl7.mllp.start_hl7_server`) in its own thread.

Each message is stored in one database transaction, and only after that transaction has
committed is the ACK written: AA when everything was taken in, AE when part of it went to the
quarantine, AR when the message could not be used at all (it is quarantined whole, also when
reading it failed in a way no check foresaw). Only when the database cannot store the message
is no ACK sent and the connection closed, so the sender keeps the message and sends it again:
nothing acknowledged is ever lost, and nothing else holds the feed back.

A frame over `[hl7] max_message_bytes` is never held whole: it is read on and thrown away to its
end marker, keeping its first bytes, and answered AR (quarantined with its MSH alone). A frame
with no end marker within `limits.MAX_DISCARDED_FRAME_BYTES` cannot be answered at all: the
connection is closed and the reason logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from hl7.mllp import start_hl7_server
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.adapters import limits
from monitor.adapters.hl7 import Hl7Options, decode, oversized_message, parse_hl7
from monitor.adapters.hl7_ack import ack_for
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.services.results.imports import (
    ImportContext,
    ImportReport,
    import_items,
    unreadable_document,
)
from monitor.services.results.incoming import Parsed
from monitor.store.db import unit_of_work

log = logging.getLogger("monitor.mllp")

START_TIMEOUT_SECONDS = 10.0
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\r"
HEAD_BYTES = 64 * 1024  # what is kept of a frame over the limit


@dataclass(frozen=True)
class Frame:
    """One MLLP block without its markers, or only its first bytes when it is over the limit."""

    data: bytes
    size: int

    @property
    def whole(self) -> bool:
        return len(self.data) == self.size


class UnreadableFrame(Exception):
    """No end marker within `limits.MAX_DISCARDED_FRAME_BYTES`: the frame cannot be answered."""


class NotABlock(Exception):
    """The bytes before an end marker do not start with the start-block byte."""


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame, holding no more of it in memory than the reader's buffer limit (set to
    `[hl7] max_message_bytes` + 1). IncompleteReadError when the sender hangs up mid-frame."""
    try:
        block = await reader.readuntil(END_BLOCK)
    except asyncio.LimitOverrunError as over:
        head = await reader.readexactly(over.consumed)
        return await _discard_rest(reader, head)
    if not block.startswith(START_BLOCK):
        raise NotABlock
    return Frame(block[1 : -len(END_BLOCK)], len(block) - 1 - len(END_BLOCK))


async def _discard_rest(reader: asyncio.StreamReader, head: bytes) -> Frame:
    """Read an over-limit frame to its end marker, keeping only its first bytes (so the next
    frame starts in step, whatever this one held)."""
    seen = len(head)
    while True:
        try:
            tail = await reader.readuntil(END_BLOCK)
        except asyncio.LimitOverrunError as over:
            seen += len(await reader.readexactly(over.consumed))
            if seen > limits.MAX_DISCARDED_FRAME_BYTES:
                raise UnreadableFrame from None
            continue
        if not head.startswith(START_BLOCK):
            raise NotABlock
        size = seen + len(tail) - 1 - len(END_BLOCK)
        return Frame(head[1 : 1 + HEAD_BYTES], size)


def acknowledge(engine: Engine, config: Config, data: bytes, now: datetime, today: date) -> bytes:
    """Store one MLLP block's message (one transaction), then say how it went, as an ACK."""
    text = decode(data)
    return _store_and_ack(
        engine, config, text, lambda: parse_hl7(text, hl7_options(config)), now, today
    )


def acknowledge_oversized(
    engine: Engine, config: Config, frame: Frame, now: datetime, today: date
) -> bytes:
    """Quarantine a frame over the limit (its MSH alone) and answer AR, as for any refusal."""
    head = decode(frame.data)
    limit = config.hl7.max_message_bytes

    def parse() -> list[Parsed]:
        return oversized_message(head, frame.size, limit, hl7_options(config))

    return _store_and_ack(engine, config, head, parse, now, today)


def hl7_options(config: Config) -> Hl7Options:
    hl7 = config.hl7
    return Hl7Options(config.clinic.timezone, None, hl7.identifier_type, hl7.assigning_authority)


def _store_and_ack(
    engine: Engine,
    config: Config,
    text: str,
    parse: Callable[[], list[Parsed]],
    now: datetime,
    today: date,
) -> bytes:
    """Read and store one message in one transaction, then answer it. A database fault is the
    only one that withholds the ACK; any other fault quarantines the message whole (AR)."""
    context = ImportContext(config, today, now)
    try:
        with unit_of_work(engine, config.catalogue) as session:
            report = import_items(session, parse(), context)
    except SQLAlchemyError:
        raise  # the database cannot store it: no ACK, so the sender keeps it and resends it
    except Exception as error:
        report = _quarantine_whole(engine, text, error, context)
    code, note = ack_code(report)
    log.info(
        "MLLP message: %s (%d stored, %d quarantined)", code, report.stored, report.quarantined
    )
    return ack_for(text, code, note, now).encode("utf-8")


def _quarantine_whole(
    engine: Engine, text: str, error: Exception, context: ImportContext
) -> ImportReport:
    """A fault other than the database's must not leave the sender without an answer (it would
    resend the message forever and hold back the ones queued behind it): keep it whole, AR."""
    log.error("MLLP message could not be read (%s); quarantined whole", type(error).__name__)
    problem = unreadable_document(error, "hl7", "hl7", text)
    with unit_of_work(engine, context.config.catalogue) as session:
        return import_items(session, [problem], context)


def ack_code(report: ImportReport) -> tuple[str, str]:
    """AA, AE or AR with a short reason for the sender's log."""
    taken = report.stored + report.duplicates + report.skipped
    if report.quarantined and (report.rejected or not taken):
        return "AR", "rejected: " + "; ".join(report.problems[:3])
    if report.quarantined:
        return "AE", f"{report.quarantined} result(s) quarantined: " + "; ".join(
            report.problems[:3]
        )
    return "AA", f"{report.stored} stored, {report.duplicates} already there"


class Hl7Listener:
    """The MLLP server, run on its own event loop in a background thread."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        host: str,
        port: int,
        *,
        now_fn: Callable[[], datetime],
        today_fn: Callable[[], date],
    ) -> None:
        self.engine, self.config, self.host, self.port = engine, config, host, port
        self.now_fn, self.today_fn = now_fn, today_fn
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> int:
        """Listen; returns the bound port (useful with port 0). MonitorError if binding fails."""
        self._thread = threading.Thread(target=self._run, name="mllp", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS) or self._error is not None:
            raise MonitorError(f"cannot listen for HL7 on {self.host}:{self.port}: {self._error}")
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_SECONDS)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(), never lost in the thread
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        limit = self.config.hl7.max_message_bytes + len(START_BLOCK)
        server = await start_hl7_server(self._client, self.host, self.port, limit=limit)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        log.info("MLLP listener stopped")

    async def _client(self, reader: Any, writer: Any) -> None:
        """Read blocks until the sender hangs up; one ACK per block, after the commit."""
        try:
            while True:
                try:
                    frame = await read_frame(reader)
                except asyncio.IncompleteReadError:
                    return  # the sender disconnected (maybe mid-message): nothing to ACK
                except UnreadableFrame:
                    log.warning(
                        "MLLP frame with no end marker within %d bytes: connection closed",
                        limits.MAX_DISCARDED_FRAME_BYTES,
                    )
                    return
                except NotABlock:
                    note = "not an MLLP block: it does not begin with the start block <VT>"
                    ack = ack_for("", "AR", note, self.now_fn()).encode("utf-8")
                else:
                    ack = await asyncio.to_thread(self._store, frame)
                if not ack:
                    return
                writer.writeblock(ack)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()

    def _store(self, frame: Frame) -> bytes:
        now, today = self.now_fn(), self.today_fn()
        try:
            if frame.whole:
                return acknowledge(self.engine, self.config, frame.data, now, today)
            limit = self.config.hl7.max_message_bytes
            log.warning("MLLP message of %d bytes over the limit of %d: refused", frame.size, limit)
            return acknowledge_oversized(self.engine, self.config, frame, now, today)
        except Exception:
            log.exception("MLLP message not stored; no ACK sent so the sender resends it")
            return b""
