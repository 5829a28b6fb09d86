"""Which channel a patient reminder goes by, or why it cannot go (issue 14, docs/decisions.md).

A patient's `channel` says how they want to be reminded. One fallback only: a patient kept on
email who has no email address gets a letter when the clinic holds their postal address. Opting
out of email is not a request for paper: an opted-out patient gets no reminder by any channel the
product picks for them (a nurse who agrees another channel with them sets it), and is listed
among the patients who could not be reached. Every "cannot" carries its reason, recorded on a
skipped outbox row as skipped emails are.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.domain.vocabulary import Channel

NO_EMAIL = "no email address"
OPTED_OUT = "opted out of email"
NO_ADDRESS = "no postal address"
NO_PHONE = "no mobile phone number"
SMS_OFF = "SMS is not set up ([sms] enabled = false)"


@dataclass(frozen=True)
class Route:
    """Where one reminder goes: its channel and recipient, or the reason it is not sent."""

    channel: Channel
    recipient: str  # an address, the postal address or a phone number; "" when there is none
    reason: str | None = None


def route_reminder(
    channel: Channel,
    *,
    email: str | None,
    email_opted_out: bool,
    address: str | None,
    phone: str | None,
    sms_enabled: bool,
) -> Route:
    """The route of a patient reminder for a patient who is still monitored."""
    email, address, phone = _given(email), _given(address), _given(phone)
    if channel is Channel.LETTER:
        return Route(channel, address) if address else Route(channel, "", NO_ADDRESS)
    if channel is Channel.SMS:
        if not sms_enabled:
            return Route(channel, phone, SMS_OFF)
        return Route(channel, phone) if phone else Route(channel, "", NO_PHONE)
    if email_opted_out:
        return Route(channel, email, OPTED_OUT)
    if email:
        return Route(channel, email)
    if address:
        return Route(Channel.LETTER, address)  # the fallback: no email address, not opted out
    return Route(channel, "", NO_EMAIL)


def _given(value: str | None) -> str:
    return (value or "").strip()
