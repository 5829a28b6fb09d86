"""`monitor protocols [--json]` (SPEC §10.3): every protocol, its panels and phases."""

from __future__ import annotations

import functools
import json

import pytest
import typer.main
import typer.testing
from typer.testing import CliRunner

from monitor.cli import app
from monitor.domain.protocol import DEFAULT_PROTOCOL

_command_once = functools.cache(typer.main.get_command)

NATALIZUMAB = """
name = "Natalizumab (Tysabri)"
kind = "continuous"
after_stop_months = 6

[panels.lft]
analytes = ["alt", "bilirubin"]
patient_words = "your liver blood test"
phases = [{ every = "1m", until = "6m" }, { every = "3m" }]

[panels.jcv]
analytes = ["tsh"]
sex = "F"
indefinite = true
phases = [{ at = ["3m", "9m"] }, { every = "2w", from = "10m", until = "12m" }]
"""

SHIPPED_IDS = ["alemtuzumab", "cladribine", "dimethyl_fumarate", "natalizumab", "teriflunomide"]
PANEL_KEYS = [
    "panel", "analytes", "baseline", "window_before_days", "window_after_days", "sex",
    "indefinite", "patient_words", "phases",
]  # fmt: skip


@pytest.fixture
def run(tmp_path, monkeypatch):
    """`monitor` in an empty folder (no database: the command reads only the configuration)."""
    monkeypatch.setattr(typer.testing, "_get_command", _command_once)
    monkeypatch.chdir(tmp_path)
    for variable in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture
def site(tmp_path):
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "site_jcv.toml").write_text(NATALIZUMAB, encoding="utf-8")
    (tmp_path / "config.toml").write_text('[clinic]\nprotocols_dir = "protocols"\n')


def test_the_json_lists_the_shipped_alemtuzumab_protocol_in_spec_shape(run) -> None:
    result = run("protocols", "--json")

    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert [p["id"] for p in listing] == SHIPPED_IDS
    protocol = listing[0]
    assert list(protocol) == [
        "id", "name", "kind", "monitoring_months", "after_stop_months", "panels",
    ]  # fmt: skip
    assert protocol["kind"] == "courses"
    assert protocol["monitoring_months"] == 48
    assert [p["panel"] for p in protocol["panels"]] == list(DEFAULT_PROTOCOL.panel_names)
    for panel, rule in zip(protocol["panels"], DEFAULT_PROTOCOL.panels, strict=True):
        assert list(panel) == PANEL_KEYS
        assert panel["analytes"] == list(rule.analytes)
        assert panel["baseline"] is True
        assert (panel["window_before_days"], panel["window_after_days"]) == (
            rule.window_before_days,
            rule.window_after_days,
        )
        assert panel["sex"] is None
        assert panel["indefinite"] is False
        # every_months shows as one every phase
        assert panel["phases"] == [{"every": f"{rule.every_months}m", "from": "0m", "until": None}]


def test_the_json_shows_a_site_protocol_its_phases_and_an_old_protocol_override(
    run, site, tmp_path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config.read_text() + "[protocol.panels.tsh]\nevery_months = 2\n")

    listing = {p["id"]: p for p in json.loads(run("protocols", "--json").stdout)}

    assert list(listing) == sorted([*SHIPPED_IDS, "site_jcv"])
    tsh = next(p for p in listing["alemtuzumab"]["panels"] if p["panel"] == "tsh")
    assert tsh["phases"] == [{"every": "2m", "from": "0m", "until": None}]
    site_jcv = listing["site_jcv"]
    assert site_jcv["kind"] == "continuous"
    assert site_jcv["monitoring_months"] is None
    assert site_jcv["after_stop_months"] == 6
    lft, jcv = site_jcv["panels"]
    assert lft["phases"] == [
        {"every": "1m", "from": "0m", "until": "6m"},
        {"every": "3m", "from": "6m", "until": None},
    ]
    assert lft["patient_words"] == "your liver blood test"
    assert lft["baseline"] is False
    assert jcv["phases"] == [{"at": ["3m", "9m"]}, {"every": "2w", "from": "10m", "until": "12m"}]
    assert (jcv["sex"], jcv["indefinite"]) == ("F", True)


def test_the_table_says_each_protocol_and_its_panels_in_words(run, site) -> None:
    result = run("protocols")

    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # the table wraps long cells
    assert "alemtuzumab: Alemtuzumab (Lemtrada) (courses)" in out
    assert "Monitoring ends 48 months after the last dose of the last course." in out
    assert "site_jcv: Natalizumab (Tysabri) (continuous)" in out
    assert "while the treatment is taken and for 6 months after a stop." in out

    def rows(section: str) -> dict[str, str]:
        """The panel rows of one protocol's table (panel names repeat across protocols)."""
        part = result.stdout.split(f" {section}: ", 1)[1].split("└", 1)[0]
        cells = [line for line in part.splitlines() if line.count("│") > 2]
        return {line.split("│")[1].strip(): line for line in cells}

    lines = {**rows("alemtuzumab"), **rows("site_jcv")}
    assert "then every 3 months" in lines["tsh"] and "14 days before to 14 days" in lines["tsh"]
    assert "then every 12 months" in lines["skin"]
    assert "every month for 6 months, then every 3 months" in lines["lft"]
    assert "at 3 and 9 months, and every 2 weeks after month 10" in lines["jcv"]
    assert "women only" in lines["jcv"]


def test_a_bad_protocol_file_exits_2_naming_the_file_and_the_key(run, site, tmp_path) -> None:
    path = tmp_path / "protocols" / "site_jcv.toml"
    path.write_text(NATALIZUMAB.replace('until = "6m"', 'until = "6x"'), encoding="utf-8")

    for command in (["protocols"], ["protocols", "--json"], ["overdue", "--json"]):
        result = run(*command)

        assert result.exit_code == 2
        assert result.stdout == ""
        assert "site_jcv.toml: panels.lft.phases[0].until: '6x' is not a length" in result.stderr


def test_the_shipped_protocols_are_listed_with_their_phases(run) -> None:
    listing = {p["id"]: p for p in json.loads(run("protocols", "--json").stdout)}

    teriflunomide = listing["teriflunomide"]
    assert teriflunomide["kind"] == "continuous"
    assert teriflunomide["panels"][0]["phases"] == [
        {"every": "2w", "from": "0w", "until": "24w"},
        {"every": "8w", "from": "24w", "until": None},
    ]
    assert listing["natalizumab"]["panels"][0]["analytes"] == ["jcv_index"]
    assert listing["cladribine"]["panels"][0]["phases"] == [{"at": ["4w", "5m"]}]
    assert [p["panel"] for p in listing["dimethyl_fumarate"]["panels"]] == ["cbc", "renal", "lft"]
    assert "cervical" not in [p["panel"] for p in listing["alemtuzumab"]["panels"]]
