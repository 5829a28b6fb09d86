"""A local stand-in for GOV.UK Notify's API, enough for its official client to talk to.

It speaks `POST /v2/notifications/sms` and `GET /v2/notifications?reference=...` (the shapes of
https://docs.notifications.service.gov.uk/rest-api.html), refuses a request without a valid JWT
bearer token (HS256, signed with the key's secret, `iss` the service id: 403 AuthError, as
Notify does), and answers each send from a script the test sets: accept it (201), or a 429,
400 or 500 error body, or hang past the client's timeout (having kept the message or not).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"monitor_test-{SERVICE_ID}-{SECRET}"

ERRORS = {
    429: (
        "RateLimitError",
        "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds",
    ),
    400: ("BadRequestError", "phone_number Not a UK mobile number"),
    500: ("Exception", "Internal server error"),
}


@dataclass
class NotifyStub:
    """What the server was sent, and what it answers next (`script`: "ok", 429, 400, 500,
    "hang" (time out, message not kept) or "hang-kept" (time out after keeping it))."""

    script: list[str | int] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)  # every send request's JSON
    kept: list[dict[str, Any]] = field(default_factory=list)  # notifications Notify "has"
    lookups: list[str] = field(default_factory=list)  # references asked about
    tokens: list[str] = field(default_factory=list)  # every bearer token seen
    release: threading.Event = field(default_factory=threading.Event)  # ends a hang
    url: str = ""

    def next_answer(self) -> str | int:
        return self.script.pop(0) if self.script else "ok"


def _handler(stub: NotifyStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ")
            stub.tokens.append(token)
            try:
                claims = jwt.decode(token, SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                claims = {}
            if not header.startswith("Bearer ") or claims.get("iss") != SERVICE_ID:
                self._json(403, _error(403, "AuthError", "Invalid token: signature"))
                return False
            return True

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/v2/notifications" or not self._authorised():
                if parts.path != "/v2/notifications":
                    self._json(404, _error(404, "NotFound", "not found"))
                return
            reference = parse_qs(parts.query).get("reference", [""])[0]
            stub.lookups.append(reference)
            found = [n for n in stub.kept if n["reference"] == reference]
            self._json(200, {"notifications": found, "links": {"current": self.path}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v2/notifications/sms":
                self._json(404, _error(404, "NotFound", "not found"))
                return
            if not self._authorised():
                return
            stub.posts.append(body)
            answer = stub.next_answer()
            if answer in ("ok", "hang-kept"):
                notification = _notification(body)
                stub.kept.append(notification)
            if answer in ("hang", "hang-kept"):
                stub.release.wait(10)  # past the client's timeout; the test releases it
                return
            if answer == "ok":
                self._json(201, notification)
                return
            assert isinstance(answer, int)
            self._json(answer, _error(answer, *ERRORS[answer]))

    return Handler


def _error(status: int, error: str, message: str) -> dict[str, Any]:
    return {"errors": [{"error": error, "message": message}], "status_code": status}


def _notification(body: dict[str, Any]) -> dict[str, Any]:
    ident = str(uuid.uuid4())
    return {
        "id": ident,
        "reference": body.get("reference"),
        "type": "sms",
        "phone_number": body.get("phone_number"),
        "content": {
            "body": body.get("personalisation", {}).get("message", ""),
            "from_number": "GOVUK",
        },
        "uri": f"/v2/notifications/{ident}",
        "template": {"id": body.get("template_id"), "version": 1, "uri": "/v2/template"},
    }


@contextmanager
def notify_server() -> Iterator[NotifyStub]:
    """The stub listening on a free local port (`stub.url`), for the test's duration."""
    stub = NotifyStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
