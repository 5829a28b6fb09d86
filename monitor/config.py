"""config.toml, validated whole before anything starts (SPEC §8).

Every key has a default, so a clinic can start with no file at all. An unknown key, a wrong type
or a bad time zone stops the program with a message naming the key (`ConfigError`). Secrets never
live here: the SMTP password comes only from `MONITOR_SMTP_PASSWORD`.
"""

from __future__ import annotations

import os
import tomllib
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.domain.codes import DEFAULT_LOINC, CodeMap
from monitor.domain.protocol import DEFAULT_PANELS, PanelRule, Protocol
from monitor.domain.rules import RuleSettings, rule_settings_from_mapping
from monitor.domain.units import ANALYTES
from monitor.errors import MonitorError

DEFAULT_CONFIG_PATH = Path("config.toml")


class ConfigError(MonitorError):
    """The configuration cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    url: str = "sqlite:///monitor.db"


class ClinicConfig(_Section):
    name: str = "Your clinic"
    phone: str = "000 000 0000"
    timezone: str = "Europe/London"
    daily_at: str = "07:00"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("daily_at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day as HH:MM") from None
        if len(value) != 5:
            raise ValueError(f"{value!r} is not a time of day as HH:MM")
        return value


class SmtpConfig(_Section):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    timeout_seconds: float = Field(30.0, gt=0)


class EmailConfig(_Section):
    transport: Literal["smtp", "file", "console"] = "file"
    from_: str = Field("monitor@clinic.invalid", alias="from")
    file_dir: str = "outbox-mail"
    smtp: SmtpConfig = SmtpConfig()


class StaffConfig(_Section):
    digest_to: list[str] = ["nurses@clinic.invalid"]
    urgent_to: list[str] = ["clinicians@clinic.invalid"]


class SourceConfig(_Section):
    """One lab feed (a result's `source`: HL7 sending facility, FHIR/CSV source name)."""

    stale_after_days: int = Field(ge=1)


class RemindersConfig(_Section):
    days_before_due: int = Field(7, ge=0)
    overdue_days: list[int] = [1, 7]


class PanelConfig(_Section):
    every_months: int = Field(ge=1)
    window_before_days: int = Field(ge=0)
    window_after_days: int = Field(ge=0)
    analytes: list[str] = Field(min_length=1)
    baseline: bool = True

    @field_validator("analytes")
    @classmethod
    def _known_analytes(cls, values: list[str]) -> list[str]:
        unknown = [a for a in values if a not in ANALYTES]
        if unknown:
            raise ValueError(f"unknown analyte(s) {unknown}")
        return values


def _default_panels() -> dict[str, PanelConfig]:
    return {
        rule.name: PanelConfig(
            every_months=rule.every_months,
            window_before_days=rule.window_before_days,
            window_after_days=rule.window_after_days,
            analytes=list(rule.analytes),
            baseline=rule.baseline,
        )
        for rule in DEFAULT_PANELS
    }


class ProtocolConfig(_Section):
    monitoring_months: int = Field(48, ge=1)
    baseline_window_days: int = Field(30, ge=0)
    panels: dict[str, PanelConfig] = Field(default_factory=_default_panels)

    @model_validator(mode="before")
    @classmethod
    def _merge_panel_defaults(cls, data: Any) -> Any:
        """A site may change one key of a default panel without repeating the others."""
        if not isinstance(data, dict) or not isinstance(data.get("panels"), dict):
            return data
        merged: dict[str, Any] = {n: p.model_dump() for n, p in _default_panels().items()}
        for name, given in data["panels"].items():
            merged[name] = {**merged.get(name, {}), **given} if isinstance(given, dict) else given
        return {**data, "panels": merged}

    def to_protocol(self) -> Protocol:
        panels = tuple(
            PanelRule(
                name,
                p.every_months,
                p.window_before_days,
                p.window_after_days,
                tuple(p.analytes),
                p.baseline,
            )
            for name, p in self.panels.items()
        )
        return Protocol(panels, self.monitoring_months, self.baseline_window_days)


class Hl7Config(_Section):
    """The MLLP listener and how PID-3 names the patient."""

    listen: bool = False
    host: str = "127.0.0.1"
    port: int = Field(2575, ge=1, le=65535)
    identifier_type: str | None = None
    assigning_authority: str | None = None
    # The largest MLLP message taken in (bytes between the frame markers); a bigger one gets AR.
    max_message_bytes: int = Field(1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)


def _known_analyte_values(table: dict[str, str], where: str) -> None:
    unknown = sorted({a for a in table.values() if a not in ANALYTES})
    if unknown:
        raise ValueError(f"unknown analyte(s) {unknown} in {where}")


class CodesConfig(_Section):
    """LOINC codes (merged onto the defaults) and per-source local lab codes, to analytes."""

    loinc: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LOINC))
    local: dict[str, dict[str, str]] = {}

    @field_validator("loinc", mode="before")
    @classmethod
    def _merge_loinc_defaults(cls, value: Any) -> Any:
        """A site adds or changes one code without repeating the defaults."""
        return {**DEFAULT_LOINC, **value} if isinstance(value, dict) else value

    @field_validator("loinc")
    @classmethod
    def _known_loinc(cls, value: dict[str, str]) -> dict[str, str]:
        _known_analyte_values(value, "codes.loinc")
        return value

    @field_validator("local")
    @classmethod
    def _known_local(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for source, table in value.items():
            _known_analyte_values(table, f"codes.local.{source}")
        return value

    def to_code_map(self) -> CodeMap:
        return CodeMap(loinc=self.loinc, local=self.local)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class WebConfig(_Section):
    """The nurses' worklist (`monitor serve`): where it listens and how sign-in behaves."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    secure_cookies: bool = False
    session_minutes: int = Field(30, ge=1, le=24 * 60)
    lockout_attempts: int = Field(5, ge=1)
    lockout_minutes: int = Field(15, ge=1)


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    clinic: ClinicConfig = ClinicConfig()
    email: EmailConfig = EmailConfig()
    staff: StaffConfig = StaffConfig()
    reminders: RemindersConfig = RemindersConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    logging: LoggingConfig = LoggingConfig()
    hl7: Hl7Config = Hl7Config()
    codes: CodesConfig = CodesConfig()
    web: WebConfig = WebConfig()
    rules: dict[str, dict[str, float]] = {}
    sources: dict[str, SourceConfig] = {}

    @field_validator("rules")
    @classmethod
    def _valid_rules(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        rule_settings_from_mapping(value)
        return value

    @property
    def rule_settings(self) -> RuleSettings:
        return rule_settings_from_mapping(self.rules)

    @property
    def monitoring_protocol(self) -> Protocol:
        return self.protocol.to_protocol()

    @property
    def mail_domain(self) -> str:
        """The domain for Message-IDs: the sender address's (never the host's FQDN)."""
        address = parseaddr(self.email.from_)[1]
        return address.rpartition("@")[2] or "localhost"

    @property
    def smtp_password(self) -> str | None:
        return os.environ.get("MONITOR_SMTP_PASSWORD")


def resolve_config_path(given: Path | None) -> tuple[Path, bool]:
    """`--config`, else `$MONITOR_CONFIG`, else ./config.toml; says if the user named it."""
    if given is not None:
        return given, True
    if env := os.environ.get("MONITOR_CONFIG"):
        return Path(env), True
    return DEFAULT_CONFIG_PATH, False


def load_config(given: Path | None = None) -> Config:
    """Read and validate the configuration; a missing ./config.toml means all defaults."""
    path, named = resolve_config_path(given)
    if not path.exists():
        if named:
            raise ConfigError(f"configuration file {path} does not exist")
        return Config()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"] if part != "from_") or "(top level)"
        key = key.replace("from_", "from")
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{key}: {message}")
    return "; ".join(problems)
