"""config.toml, validated whole before anything starts (SPEC §8).

Every key has a default, so a clinic can start with no file at all. An unknown key, a wrong type,
a bad time zone, a number outside its range, a text with a line break or a bad address stops the
program with a message naming the key (`ConfigError`, exit 2). The ranges and why are in
docs/decisions.md ("Input bounds"). Secrets never live here: the SMTP password comes only from
`MONITOR_SMTP_PASSWORD`.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.domain.addresses import address_problem
from monitor.domain.catalogue import Catalogue
from monitor.domain.codes import DEFAULT_LOINC, CodeMap
from monitor.domain.fields import line_problem
from monitor.domain.patient_match import IdentityCheck
from monitor.domain.protocol import DEFAULT_PANELS, PanelRule, Protocol
from monitor.domain.rules import RuleSettings, protocol_rule_settings, rule_settings_from_mapping
from monitor.domain.units import ANALYTES, AnalyteCatalogue
from monitor.errors import MonitorError
from monitor.store.db import database_url_problem

if TYPE_CHECKING:
    from monitor.domain.phases import ProtocolPlan
    from monitor.protocol_config import Definitions

DEFAULT_CONFIG_PATH = Path("config.toml")
# A config file is a few kilobytes; refusing huge ones keeps a mistake (a log file named by
# --config) from eating memory before it is found not to be TOML.
MAX_CONFIG_BYTES = 1_000_000
MAX_ZONE_NAME = 64  # the longest IANA zone name has 32 characters


class ConfigError(MonitorError):
    """The configuration cannot be used; the message names the key."""


def _one_line(max_length: int, *, allow_empty: bool = False) -> AfterValidator:
    """A field that goes into headers, subjects or table cells: one line, bounded."""

    def check(value: str) -> str:
        if allow_empty and not value:
            return value
        problem = line_problem(value, max_length)
        if problem is not None:
            raise ValueError(problem)
        return value.strip()

    return AfterValidator(check)


def _address(*, display_name: bool) -> AfterValidator:
    def check(value: str) -> str:
        problem = address_problem(value, display_name=display_name)
        if problem is not None:
            raise ValueError(f"{value[:80]!r} {problem}")
        return value.strip()

    return AfterValidator(check)


def _database_url(value: str) -> str:
    problem = database_url_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _panel_name(value: str) -> str:
    if not PANEL_NAME.fullmatch(value):
        raise ValueError(f"panel name {value[:40]!r} must be 1-32 letters, digits, _ or -")
    return value


PANEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
Name = Annotated[str, _one_line(200)]  # the width of the names the database keeps
Phone = Annotated[str, _one_line(50)]
Host = Annotated[str, _one_line(253)]  # the longest DNS name
Code = Annotated[str, _one_line(64)]  # sources, lab codes, identifier types (64-wide columns)
FolderPath = Annotated[str, _one_line(1024)]
Address = Annotated[str, _address(display_name=False)]
Sender = Annotated[str, _address(display_name=True)]
PanelName = Annotated[str, AfterValidator(_panel_name)]


class _Section(BaseModel):
    # strict: `true` is not the number 1, and 7.0 is not the whole number 7.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatabaseConfig(_Section):
    url: Annotated[str, AfterValidator(_database_url)] = "sqlite:///monitor.db"


class ClinicConfig(_Section):
    name: Name = "Your clinic"
    phone: Phone = "000 000 0000"
    timezone: str = "Europe/London"
    daily_at: str = "07:00"
    # A folder of `<id>.toml` protocol files (SPEC §10.1), from the working directory if relative.
    protocols_dir: FolderPath | None = None
    # The clinic's sites; a patient's site is edited to one of them (empty: "main" and the
    # sites patients already have, docs/decisions.md "Editing the record").
    sites: list[Annotated[str, _one_line(64)]] = Field([], max_length=100)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            if len(value) > MAX_ZONE_NAME:  # a longer name makes the file lookup fail with OSError
                raise ValueError
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {value[:MAX_ZONE_NAME]!r}") from None
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
    host: Host = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: Annotated[str, _one_line(256, allow_empty=True)] = ""
    # RFC 5321 §4.5.3.2's longest wait is 10 minutes; under 1 s no real server answers.
    timeout_seconds: float = Field(30.0, ge=1, le=600, allow_inf_nan=False)
    # After the whole message is sent, the server's reply is waited for this long (RFC 5321
    # §4.5.3.2.6, "DATA Termination: 10 minutes"); no reply then means "not confirmed".
    final_reply_timeout_seconds: float = Field(600.0, ge=1, le=3600, allow_inf_nan=False)


class EmailConfig(_Section):
    transport: Literal["smtp", "file", "console"] = "file"
    from_: Sender = Field("monitor@clinic.invalid", alias="from")
    file_dir: FolderPath = "outbox-mail"
    smtp: SmtpConfig = SmtpConfig()


class StaffConfig(_Section):
    digest_to: list[Address] = Field(["nurses@clinic.invalid"], min_length=1, max_length=50)
    urgent_to: list[Address] = Field(["clinicians@clinic.invalid"], min_length=1, max_length=50)


class SourceConfig(_Section):
    """One lab feed (a result's `source`: HL7 sending facility, FHIR/CSV source name)."""

    stale_after_days: int = Field(ge=1, le=365)


class RemindersConfig(_Section):
    days_before_due: int = Field(7, ge=0, le=90)
    overdue_days: list[Annotated[int, Field(ge=1, le=365)]] = Field([1, 7], max_length=12)

    @field_validator("overdue_days")
    @classmethod
    def _distinct_steps(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise ValueError(f"the steps {values} repeat a day")
        return values


class PanelConfig(_Section):
    every_months: int = Field(ge=1, le=120)
    window_before_days: int = Field(ge=0, le=365)
    window_after_days: int = Field(ge=0, le=365)
    analytes: list[str] = Field(min_length=1, max_length=50)
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
    monitoring_months: int = Field(48, ge=1, le=240)
    baseline_window_days: int = Field(30, ge=0, le=365)
    panels: dict[PanelName, PanelConfig] = Field(default_factory=_default_panels, max_length=50)

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
    host: Host = "127.0.0.1"
    port: int = Field(2575, ge=1, le=65535)
    identifier_type: Code | None = None
    assigning_authority: Code | None = None
    # The largest MLLP message taken in (bytes between the frame markers); a bigger one gets AR.
    max_message_bytes: int = Field(1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)


class ImportConfig(_Section):
    """How an imported result is matched to its patient (README "Lab results in")."""

    # Not strict: the file gives the setting's name as a string.
    identity_check: Annotated[IdentityCheck, Field(strict=False)] = IdentityCheck.DOB_AND_FAMILY


def unknown_analyte_values(table: dict[str, str], where: str, known: Any) -> str | None:
    """The problem with a code table naming an analyte outside `known`, or None."""
    unknown = sorted({a for a in table.values() if a not in known})
    return f"unknown analyte(s) {unknown} in {where}" if unknown else None


class CodesConfig(_Section):
    """LOINC codes (merged onto the defaults) and per-source local lab codes, to analytes.
    Their analytes are checked against the analyte catalogue (`check_code_analytes`), which
    `[analytes]` and the protocol files extend."""

    loinc: dict[Code, str] = Field(default_factory=lambda: dict(DEFAULT_LOINC))
    local: dict[Code, dict[Code, str]] = {}

    @field_validator("loinc", mode="before")
    @classmethod
    def _merge_loinc_defaults(cls, value: Any) -> Any:
        """A site adds or changes one code without repeating the defaults."""
        return {**DEFAULT_LOINC, **value} if isinstance(value, dict) else value

    def to_code_map(self, analytes: AnalyteCatalogue | None = None) -> CodeMap:
        """The code map; with `analytes`, their `loinc` codes join `[codes.loinc]`."""
        if analytes is None:
            return CodeMap(loinc=self.loinc, local=self.local)
        added = {code: a.name for a in analytes.analytes.values() for code in a.loinc}
        return CodeMap(
            loinc={**added, **self.loinc},
            local=self.local,
            analytes=frozenset(analytes.names),
        )


def check_code_analytes(codes: CodesConfig, analytes: AnalyteCatalogue) -> str | None:
    """The first problem with `[codes]` given the clinic's analytes: a code naming an unknown
    analyte, or an `[analytes.<name>] loinc` code that `[codes.loinc]` maps elsewhere."""
    tables = {"codes.loinc": codes.loinc}
    tables.update({f"codes.local.{source}": table for source, table in codes.local.items()})
    for where, table in tables.items():
        problem = unknown_analyte_values(table, where, analytes.analytes)
        if problem is not None:
            return f"{where}: {problem}"
    for analyte in analytes.analytes.values():
        for code in analyte.loinc:
            other = codes.loinc.get(code)
            if other is not None and other != analyte.name:
                return f"analytes.{analyte.name}.loinc: {code} is mapped to {other} by codes.loinc"
    return None


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class WebConfig(_Section):
    """The nurses' worklist (`monitor serve`): where it listens and how sign-in behaves."""

    host: Host = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    secure_cookies: bool = False
    session_minutes: int = Field(30, ge=1, le=24 * 60)
    lockout_attempts: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # The worklist's address as patients and other systems reach it (calendar links in
    # reminders, `monitor patient calendar`); unset: no link in reminders.
    public_url: str | None = Field(
        None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=200
    )


NOTIFY_URL = "https://api.notifications.service.gov.uk"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# The clinic's name and phone together in the shortest SMS wording (`notify.sms`): its other
# words and the longest date ("30 September 2026") take 94 of the 160 characters.
SMS_NAME_AND_PHONE = 66


def _notify_url(value: str) -> str:
    """An https URL (http only to this machine, for a test double or a local proxy)."""
    parsed = urlsplit(value)
    local = parsed.scheme == "http" and parsed.netloc.rsplit(":", 1)[0] in _LOOPBACK
    if not (parsed.scheme == "https" or local) or not parsed.netloc or len(value) > 300:
        raise ValueError(f"{value[:80]!r} is not an https:// URL")
    if parsed.query or parsed.fragment or any(c.isspace() for c in value):
        raise ValueError(f"{value[:80]!r} must be a plain base URL")
    return value.rstrip("/")


def _template_id(value: str) -> str:
    if value and not _UUID.fullmatch(value):
        raise ValueError(f"{value[:60]!r} is not a Notify template id (a UUID)")
    return value


class SmsConfig(_Section):
    """Text-message reminders through GOV.UK Notify (docs/operations.md, "SMS reminders").

    The API key is never here: only `MONITOR_NOTIFY_API_KEY` in the environment. The template
    is one the clinic creates in Notify whose whole body is `((message))`; the monitor passes
    the reminder's text as that personalisation.
    """

    enabled: bool = False
    base_url: Annotated[str, AfterValidator(_notify_url)] = NOTIFY_URL
    template_id: Annotated[str, AfterValidator(_template_id)] = ""
    # Each request to Notify (the look-up before a retry, then the send) waits this long.
    timeout_seconds: float = Field(30.0, ge=1, le=120, allow_inf_nan=False)

    @model_validator(mode="after")
    def _template_when_enabled(self) -> SmsConfig:
        if self.enabled and not self.template_id:
            raise ValueError("template_id: set it to the Notify template's id when enabled")
        return self


class ChasingConfig(_Section):
    """Chasing overdue patients (issue 14): after this many days overdue with no successful
    contact (`reached` or `booked`), the patient goes to `staff.urgent_to`. A product default
    for the clinic to confirm, not a clinical threshold (docs/decisions.md)."""

    escalate_after_days: int = Field(21, ge=1, le=365)


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    clinic: ClinicConfig = ClinicConfig()
    email: EmailConfig = EmailConfig()
    staff: StaffConfig = StaffConfig()
    reminders: RemindersConfig = RemindersConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    logging: LoggingConfig = LoggingConfig()
    hl7: Hl7Config = Hl7Config()
    import_: ImportConfig = Field(ImportConfig(), alias="import")
    codes: CodesConfig = CodesConfig()
    web: WebConfig = WebConfig()
    sms: SmsConfig = SmsConfig()
    chasing: ChasingConfig = ChasingConfig()
    rules: dict[str, dict[str, float]] = {}
    sources: dict[Code, SourceConfig] = {}
    # `[protocols.<id>]` as written; `catalogue` builds them with the other layers.
    protocol_tables: dict[str, Any] = Field({}, alias="protocols", max_length=200)
    # `[analytes.<name>]` as written (SPEC §10.1); `analyte_catalogue` reads them.
    analyte_tables: dict[str, Any] = Field({}, alias="analytes", max_length=100)

    @field_validator("rules")
    @classmethod
    def _valid_rules(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        rule_settings_from_mapping(value)
        return value

    @property
    def rule_settings(self) -> RuleSettings:
        return rule_settings_from_mapping(self.rules)

    @property
    def protocols(self) -> dict[str, ProtocolPlan]:
        """Every protocol, id -> plan, sorted by id, from its layers (`monitor.protocol_config`;
        checked when the configuration is loaded, read once)."""
        return self.definitions.protocols

    @cached_property
    def catalogue(self) -> Catalogue:
        """Every protocol as the value schedules are computed from (built once per config)."""
        return Catalogue.of(self.definitions.protocols)

    @property
    def analyte_catalogue(self) -> AnalyteCatalogue:
        """Every analyte the clinic records: SPEC §2's, the protocol files' and `[analytes]`."""
        return self.definitions.analytes

    @cached_property
    def code_map(self) -> CodeMap:
        """`[codes]` with the LOINC codes of the catalogue's analytes."""
        return self.codes.to_code_map(self.analyte_catalogue)

    @cached_property
    def definitions(self) -> Definitions:
        """The protocols and the analyte catalogue, read from their files once per config."""
        return build_definitions(self, "config.toml")

    @property
    def mail_domain(self) -> str:
        """The domain for Message-IDs: the sender address's (never the host's FQDN)."""
        address = parseaddr(self.email.from_)[1]
        return address.rpartition("@")[2] or "localhost"

    @property
    def smtp_password(self) -> str | None:
        return os.environ.get("MONITOR_SMTP_PASSWORD")

    @property
    def notify_api_key(self) -> str | None:
        """GOV.UK Notify's API key: from the environment only, never from the file."""
        return os.environ.get("MONITOR_NOTIFY_API_KEY")

    @model_validator(mode="after")
    def _sms_fits(self) -> Config:
        """An SMS names the clinic and its phone and must stay within 160 characters."""
        given = len(self.clinic.name) + len(self.clinic.phone)
        if self.sms.enabled and given > SMS_NAME_AND_PHONE:
            raise ValueError(
                f"sms.enabled: clinic.name and clinic.phone together are {given} characters; "
                f"an SMS has room for {SMS_NAME_AND_PHONE} (shorten clinic.name or clinic.phone)"
            )
        return self

    @property
    def unconfigured_keys(self) -> list[str]:
        """The clinic's own keys that still hold a placeholder (see `holds_placeholder`)."""
        values: dict[str, list[str]] = {
            "clinic.name": [self.clinic.name],
            "clinic.phone": [self.clinic.phone],
            "email.from": [self.email.from_],
            "staff.digest_to": self.staff.digest_to,
            "staff.urgent_to": self.staff.urgent_to,
        }
        return [key for key, given in values.items() if holds_placeholder(key, given)]


def build_protocols(config: Config, source: str) -> dict[str, ProtocolPlan]:
    """`config`'s protocols (`build_definitions`)."""
    return build_definitions(config, source).protocols


def build_definitions(config: Config, source: str) -> Definitions:
    """`config`'s protocols and analytes; an error is a ConfigError naming the file (`source`
    for config.toml) and the key. The old `[protocol]` layer is what it changes from the
    defaults (a value it repeats, as the shipped config.toml repeats them all, changes nothing;
    a panel it adds comes whole, with its `baseline = true` default). `[codes]` is checked
    against the analytes. Imported here: `--help` reads no protocol."""
    from monitor.protocol_config import ProtocolConfigError, load_definitions

    try:
        found = load_definitions(
            config.protocol_tables,
            _old_protocol_layer(config.protocol),
            source=source,
            protocols_dir=config.clinic.protocols_dir,
            analytes=config.analyte_tables,
        )
    except ProtocolConfigError as error:
        raise ConfigError(str(error)) from None
    problem = check_code_analytes(config.codes, found.analytes)
    if problem is not None:
        raise ConfigError(f"{source}: {problem}")
    check_protocol_rules(config.rule_settings, found.protocols, source)
    return found


def _old_protocol_layer(given: ProtocolConfig) -> dict[str, Any]:
    defaults = ProtocolConfig()
    layer: dict[str, Any] = {
        key: getattr(given, key)
        for key in ("monitoring_months", "baseline_window_days")
        if getattr(given, key) != getattr(defaults, key)
    }
    panels: dict[str, Any] = {}
    for name, panel in given.panels.items():
        values = panel.model_dump()
        default = defaults.panels.get(name)
        below = default.model_dump() if default is not None else {}
        changed = {key: value for key, value in values.items() if below.get(key) != value}
        if changed:
            panels[name] = changed
    if panels:
        layer["panels"] = panels
    return layer


def check_protocol_rules(
    base: RuleSettings, protocols: dict[str, ProtocolPlan], source: str
) -> None:
    """Each protocol's `rules`, key by key over `[rules]`, must make valid settings (tiers in
    order), so the flag rules never meet a combination they cannot use."""
    for plan in protocols.values():
        try:
            protocol_rule_settings(base, plan.rules)
        except ValueError as error:
            raise ConfigError(f"{source}: protocols.{plan.id}: {error} (over [rules])") from None


# What a key holds until the clinic sets it: the model's defaults above, which the shipped
# config.toml repeats, so a clinic with no config file and one with the file as shipped are
# equally unconfigured (tests/cli/test_config.py keeps the two the same).
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "clinic.name": frozenset({ClinicConfig().name}),
    "clinic.phone": frozenset({ClinicConfig().phone}),
    "email.from": frozenset({EmailConfig().from_}),
    "staff.digest_to": frozenset(StaffConfig().digest_to),
    "staff.urgent_to": frozenset(StaffConfig().urgent_to),
}
ADDRESS_KEYS = frozenset({"email.from", "staff.digest_to", "staff.urgent_to"})


def holds_placeholder(key: str, given: list[str]) -> bool:
    """True when `key` is empty, or any of its values is the shipped placeholder or (for an
    address) one that can never be delivered: a domain under `.invalid` (RFC 2606)."""
    if not [value for value in given if value.strip()]:
        return True
    for value in given:
        if value.strip() in PLACEHOLDERS[key]:
            return True
        domain = parseaddr(value)[1].rpartition("@")[2].lower().rstrip(".")
        if key in ADDRESS_KEYS and f".{domain}".endswith(".invalid"):
            return True
    return False


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
        return parse_config({}, source=str(path))
    try:
        raw = _read_bytes(path)
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text (save it as UTF-8, without a BOM)") from None
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        detail = error if isinstance(error, tomllib.TOMLDecodeError) else "nested too deeply"
        raise ConfigError(f"{path} is not valid TOML: {detail}") from None
    return parse_config(data, source=str(path))


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is over {MAX_CONFIG_BYTES} bytes: not a configuration file")
    return raw


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """The validated configuration, its protocols built once so a bad one stops the start."""
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None
    # Built now, so a bad protocol or analyte stops the start naming `source`; kept as the
    # cached `definitions` (what functools.cached_property stores in the instance's __dict__).
    config.__dict__["definitions"] = build_definitions(config, source)
    return config


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(_key_part(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        else:
            message = item["msg"]
        if len(message) > MAX_MESSAGE:  # a value quoted in the message may be a whole paragraph
            message = message[:MAX_MESSAGE] + "..."
        problems.append(f"{key}: {message}")
    return "; ".join(problems)


def _key_part(part: str | int) -> str:
    """One step of a key's path, printable: a table name from the file may hold anything."""
    text = "from" if part == "from_" else str(part)
    if _PLAIN_KEY.fullmatch(text):
        return text
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


MAX_MESSAGE = 300
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-\[\]]{1,64}")
