"""GOV.UK Notify's official client as the sender of text messages (`notify.sms.SmsTransport`).

Delivery goes through Notify's official client (`NotificationsAPIClient`, its JWT bearer
header, `POST /v2/notifications/sms`), the outbox row's reference passed as Notify's
`reference`. Replies are classified as SMTP's are (`notify.transports.DeliveryError`): 429, 5xx,
a timeout or a network error are temporary, any other 4xx permanent. A timeout, or a sender
that died between Notify's reply and recording it, may hide a message Notify did take, so before
every send the transport asks Notify for a notification with that reference and, if there is
one, sends nothing: never twice (one extra request per text message buys that).

Apart from `notify.sms` so that only the commands that send load the client and `requests`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from notifications_python_client.errors import HTTPError, InvalidResponse
from notifications_python_client.notifications import NotificationsAPIClient

from monitor.config import Config, SmsConfig
from monitor.notify.sms import Sms
from monitor.notify.transports import DeliveryError, TransportError

API_KEY_VARIABLE = "MONITOR_NOTIFY_API_KEY"
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_KEY_END = re.compile(rf"-({_UUID})-({_UUID})")  # a Notify key ends with service id and secret


class NotifySmsTransport:
    """GOV.UK Notify through its official client; raises `DeliveryError` like the mail ones."""

    def __init__(
        self,
        settings: SmsConfig,
        api_key: str | None,
        *,
        client: NotificationsAPIClient | None = None,
    ) -> None:
        self._settings = settings
        self._client = client or NotificationsAPIClient(  # type: ignore[no-untyped-call]
            _checked_key(api_key), base_url=settings.base_url, timeout=settings.timeout_seconds
        )

    @property
    def longest_send(self) -> timedelta:
        """The look-up before a retry and the send, each waiting up to the timeout."""
        return timedelta(seconds=2 * self._settings.timeout_seconds)

    def send_sms(self, sms: Sms) -> None:
        if self._already_taken(sms.reference):
            return  # an earlier attempt reached Notify; its reply or its record was lost
        try:
            self._client.send_sms_notification(  # type: ignore[no-untyped-call]
                phone_number=sms.phone,
                template_id=self._settings.template_id,
                personalisation={"message": sms.text},
                reference=sms.reference,
            )
        except InvalidResponse:
            return  # a 2xx reply without JSON: Notify took the message
        except HTTPError as error:
            raise _classified(error) from None

    def _already_taken(self, reference: str) -> bool:
        try:
            found = self._client.get_all_notifications(  # type: ignore[no-untyped-call]
                template_type="sms", reference=reference
            )
        except InvalidResponse:
            found = {}  # a 2xx reply without JSON: nothing to go by; Notify has none listed
        except HTTPError as error:
            raise _classified(error, "could not ask whether an earlier attempt arrived") from None
        return bool(found.get("notifications")) if isinstance(found, dict) else False


def _checked_key(api_key: str | None) -> str:
    if not api_key:
        raise TransportError(
            f"[sms] enabled = true but {API_KEY_VARIABLE} is not in the environment (set it to "
            "the clinic's Notify API key, or set [sms] enabled = false)"
        )
    if len(api_key) < 74 or not _KEY_END.fullmatch(api_key[-74:]):
        raise TransportError(
            f"{API_KEY_VARIABLE} is not a Notify API key (one ends with the service id and "
            "the secret key, two UUIDs joined by '-')"
        )
    return api_key


def _code(error: HTTPError) -> int | None:
    return None if error.response is None else error.status_code


def _detail(error: HTTPError) -> str:
    if error.response is None:
        return "no reply: a timeout or a network error"
    found = error.message
    if isinstance(found, list):  # Notify's `errors`: [{"error": ..., "message": ...}, ...]
        found = "; ".join(
            f"{item.get('error', '')}: {item.get('message', '')}" if isinstance(item, dict)
            else str(item)
            for item in found
        )  # fmt: skip
    return f"{error.status_code} {found}"[:500]


def _classified(error: HTTPError, doing: str = "") -> DeliveryError:
    """429, 5xx and no reply at all are worth trying again; any other 4xx is not."""
    code = _code(error)
    temporary = code is None or code == 429 or code >= 500
    what = f"{doing} ({_detail(error)})" if doing else _detail(error)
    return DeliveryError(f"Notify: {what}", permanent=not temporary, code=code)


def make_sms_transport(config: Config) -> NotifySmsTransport | None:
    """The SMS transport when `[sms] enabled`; TransportError when its key is missing or bad."""
    if not config.sms.enabled:
        return None
    return NotifySmsTransport(config.sms, config.notify_api_key)
