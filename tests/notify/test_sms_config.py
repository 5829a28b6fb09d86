"""`[sms]` in config.toml: validated whole, an unknown key or a bad value refused naming the key;
the API key only from the environment (`monitor send` and `monitor run` refuse to start
without it, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import NOTIFY_URL, ConfigError, load_config
from tests.conftest import CLINIC_TOML, Cli, clinic_config

TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"


def test_sms_is_off_by_default_with_notify_s_address() -> None:
    sms = clinic_config().sms
    assert (sms.enabled, sms.base_url, sms.template_id) == (False, NOTIFY_URL, "")


def test_the_shipped_config_toml_holds_the_defaults() -> None:
    shipped = load_config(Path(__file__).parents[2] / "config.toml")
    assert shipped.sms == clinic_config().sms


@pytest.mark.parametrize(
    ("sms", "words"),
    [
        ({"api_key": "x"}, "sms.api_key: unknown key"),
        ({"enabled": "yes"}, "sms.enabled: Input should be a valid boolean"),
        ({"enabled": True}, "sms: template_id: set it to the Notify template"),
        ({"template_id": "1234"}, "sms.template_id: '1234' is not a Notify template id"),
        ({"base_url": "http://api.notifications.service.gov.uk"}, "sms.base_url: .* https://"),
        ({"base_url": "ftp://127.0.0.1"}, "sms.base_url: .* is not an https:// URL"),
        ({"base_url": "https://"}, "sms.base_url: .* is not an https:// URL"),
        ({"base_url": "https://notify.example/?a=1"}, "sms.base_url: .* plain base URL"),
        ({"timeout_seconds": 0.5}, "sms.timeout_seconds: Input should be greater than or equal"),
        ({"timeout_seconds": 121.0}, "sms.timeout_seconds: Input should be less than or equal"),
    ],
)
def test_a_bad_sms_setting_is_refused_naming_its_key(sms: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        clinic_config({"sms": sms})


def test_a_local_http_address_is_allowed_for_a_test_double_or_proxy() -> None:
    config = clinic_config({"sms": {"base_url": "http://127.0.0.1:8099/"}})
    assert config.sms.base_url == "http://127.0.0.1:8099"


def test_send_without_the_api_key_exits_2_naming_the_variable(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_NOTIFY_API_KEY", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(CLINIC_TOML + f'\n[sms]\nenabled = true\ntemplate_id = "{TEMPLATE_ID}"\n')

    result = cli("--config", str(config), "send")

    assert result.code == 2
    assert "MONITOR_NOTIFY_API_KEY is not in the environment" in result.err
