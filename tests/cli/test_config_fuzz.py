"""Fuzzing the config loader (issue 11): no traceback, exit 0 or 2, and every accepted config can
build every email without a header of its own making.

Each example starts from the defaults and changes a few keys to random values (huge and negative
numbers, inf and nan, text with line breaks and control characters, lists, booleans), or adds an
unknown key, writes the result as TOML and runs the real `monitor` command on it. A second test
feeds random bytes as the file.
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
from datetime import UTC, date, datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import typer.main
import typer.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.preview import sample_context
from monitor.config import Config, ConfigError, load_config
from monitor.notify.messages import Clinic
from monitor.notify.mime import build_message
from monitor.notify.registry import MESSAGES
from monitor.notify.render import render_email

TEMPLATE: dict[str, Any] = Config().model_dump(by_alias=True, mode="json")
EXPECTED_HEADERS = {
    "message-id", "date", "from", "to", "subject", "auto-submitted", "mime-version",
    "content-type", "content-transfer-encoding",
}  # fmt: skip
_command_once = functools.cache(typer.main.get_command)


def leaf_paths(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in table.items():
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, (*prefix, key))
        else:
            paths.append((*prefix, key))
    return paths


PATHS = leaf_paths(TEMPLATE)
TRICKY_TEXT = [
    "", " ", "a\r\nBcc: x@example.org", "x" * 5000, "\x00", "\u2028", "é", "=?utf-8?q?x?=",
    "nurses@clinic.example", "Clinic <monitor@clinic.example>", "a@b", "a@b.example,c@d.example",
    "sqlite:///x.db", "postgresql://u@h/d", "mysql://u@h/d", "Europe/Paris", "07:30", "24:00",
]  # fmt: skip

values = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.sampled_from([0, -1, 1, 10**11, 2**31, 2**63 - 1]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(TRICKY_TEXT),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=2)
    ),
    max_leaves=4,
)


def same_kind(original: Any) -> st.SearchStrategy[Any]:
    """Values of the key's own type, often valid: so that accepted configs get explored too."""
    text = (
        st.text(st.characters(codec="utf-8"), max_size=30)
        | st.sampled_from(TRICKY_TEXT)
        | st.text(min_size=60, max_size=2000)
    )
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int):
        return st.integers(-2, 400) | st.sampled_from([0, 65535, 65536, 10**11])
    if isinstance(original, float):
        return st.floats(-1, 1000) | st.sampled_from([math.inf, math.nan, 1.0, 600.0])
    if isinstance(original, list) and original and isinstance(original[0], int):
        return st.lists(st.integers(-2, 400), max_size=4)
    if isinstance(original, list):
        return st.lists(text, min_size=0, max_size=3)
    return text


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """The defaults with one or two keys set to random values (or a key added)."""
    data = json.loads(json.dumps(TEMPLATE))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(PATHS))
        if draw(st.integers(0, 9)) == 0:
            path = (*path[:-1], draw(st.text(min_size=1, max_size=10)))  # an unknown key
        node = data
        for part in path[:-1]:
            node = node[part]
        kind = same_kind(node.get(path[-1]))
        node[path[-1]] = draw(values if draw(st.integers(0, 3)) == 0 else kind)
    return data


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\' else c for c in text
    )
    return f'"{escaped}"'


def to_toml(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """TOML text for a nested dict: scalars first, then one [table] per sub-dict."""
    lines = [
        f"{toml_string(k)} = {toml_value(v)}"
        for k, v in table.items()
        if v is not None and not _table(v)  # TOML has no null: an omitted key is the default
    ]
    text = "\n".join(lines) + "\n"
    for key, value in table.items():
        if _table(value):
            header = ".".join(toml_string(part) for part in (*prefix, key))
            text += f"\n[{header}]\n" + to_toml(value, (*prefix, key))
    return text


def _table(value: Any) -> bool:
    return isinstance(value, dict)


def run_monitor(config_path: Path, out: Path) -> typer.testing.Result:
    typer.testing._get_command = _command_once  # type: ignore[attr-defined]
    return CliRunner().invoke(
        app,
        ["--config", str(config_path), "preview", "staff-daily-digest", "--out", str(out)],
        env={"MONITOR_DATABASE_URL": "", "MONITOR_CONFIG": ""},
    )


def assert_no_traceback_and_exit_0_or_2(result: typer.testing.Result) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback: {result.exception!r}") from result.exception
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ")


def assert_every_email_builds_with_only_its_own_headers(config: Config) -> None:
    """What a header injection would break: each message has exactly its headers and
    recipients."""
    clinic = Clinic(config.clinic.name, config.clinic.phone)
    recipients = config.staff.digest_to
    for message in MESSAGES:
        rendered = render_email(message, sample_context(message, clinic, date(2026, 1, 5)))
        mime = build_message(
            sender=config.email.from_,
            recipient=", ".join(recipients),
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            calendar=None,
            message_id=f"<fuzz@{config.mail_domain}>",
            date=datetime(2026, 1, 5, 7, tzinfo=UTC),
        )
        parsed = BytesParser(policy=policy.SMTP).parsebytes(mime.as_bytes())
        assert {name.lower() for name in parsed} <= EXPECTED_HEADERS
        assert [a for _, a in getaddresses([str(parsed["To"])])] == recipients
        assert parseaddr(str(parsed["From"]))[1] == parseaddr(config.email.from_)[1]


@settings(max_examples=150, deadline=None)
@given(configs())
def test_a_fuzzed_config_exits_0_or_2_and_an_accepted_one_builds_clean_emails(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(to_toml(data), encoding="utf-8")

        result = run_monitor(path, Path(folder) / "out.html")

        assert_no_traceback_and_exit_0_or_2(result)
        if result.exit_code == 0:
            assert_every_email_builds_with_only_its_own_headers(load_config(path))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_as_the_config_file_exit_0_or_2(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_bytes(data)

        result = run_monitor(path, Path(folder) / "out.html")

        assert_no_traceback_and_exit_0_or_2(result)
        try:
            load_config(path)
        except ConfigError:
            assert result.exit_code == 2
        else:
            assert result.exit_code == 0


def test_the_template_round_trips_through_the_serializer():
    """The fuzzer's TOML writer is right: the defaults written out read back as the defaults."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(to_toml(TEMPLATE), encoding="utf-8")

        assert load_config(path) == Config()
