"""Whether the configuration is the clinic's own yet (issue 10 item 3: no placeholder reaches a
patient).

Until `clinic.name`, `clinic.phone`, `email.from` and `staff.*` are set, the daily cycle decides
no patient reminder at all: nothing is recorded, so each reminder is still due and goes out with
the clinic's real name and phone at the first cycle after the file is fixed. A staff email whose
own recipients are placeholders cannot be delivered: it is recorded as `skipped` with the reason.
The digest and `monitor status` say why in these words.
"""

from __future__ import annotations

from monitor.config import Config

FIX = "set them in config.toml"


def reminders_hold(config: Config) -> str | None:
    """Why patient reminders are on hold, in plain words, or None when they may go out."""
    keys = config.unconfigured_keys
    if not keys:
        return None
    return (
        f"patient reminders are on hold: {', '.join(keys)} still "
        f"{'holds' if len(keys) == 1 else 'hold'} the placeholder shipped with the product; "
        f"{FIX} and the held reminders go out at the next daily cycle"
    )


def staff_hold(config: Config, key: str) -> str | None:
    """Why a staff email to `key` ("staff.digest_to", "staff.urgent_to") cannot go, or None."""
    if key not in config.unconfigured_keys:
        return None
    return f"{key} still holds the placeholder shipped with the product (set it in config.toml)"


def held_line(config: Config, patients: int) -> str | None:
    """The digest's line about reminders on hold, with how many patients are waiting."""
    reason = reminders_hold(config)
    if reason is None:
        return None
    waiting = f" ({patients} patient(s) would have been reminded today)" if patients else ""
    return f"{reason[0].upper()}{reason[1:]}{waiting}."
