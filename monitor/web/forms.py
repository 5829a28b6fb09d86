"""Reading filters and form fields: unknown filter values are ignored, bad form input is
refused with InvalidInput naming the field by its label on the form, and so are the services'
refusals (`refusal`: a service names a `Field`, the page says the form's word for it)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from starlette.datastructures import FormData, QueryParams

from monitor.domain.dates import checked_date
from monitor.errors import Field, InvalidInput

T = TypeVar("T")
PAGE_SIZE = 50

# The form's words for the fields a service may refuse from a page (the others are never typed
# there, e.g. who acknowledged is the signed-in user, and keep the product's name).
FORM_LABELS: dict[Field, str] = {
    Field.EMAIL: "The address",
    Field.REASON: "The reason",
    Field.NOTE: "The note",
    Field.PANEL: "The test to waive",
    Field.REF_LOW: "The range's low end",
    Field.REF_HIGH: "The range's high end",
    Field.OUTCOME: "The outcome",
    Field.BOOKED_ON: "The booked date",
}


def refusal(error: InvalidInput) -> str:
    """Why the input was refused, in the form's words."""
    return error.worded(FORM_LABELS)


def choice(params: QueryParams, name: str, allowed: Iterable[str]) -> str | None:
    """A filter value if it is one of `allowed`, else None (no filter)."""
    value = params.get(name)
    return value if value is not None and value in set(allowed) else None


def text(form: FormData, name: str, *, required: bool = False, label: str = "") -> str | None:
    value = form.get(name)
    cleaned = value.strip() if isinstance(value, str) else ""
    if not cleaned:
        if required:
            raise InvalidInput(f"{label or name} must not be empty")
        return None
    return cleaned


def form_date(form: FormData, name: str, label: str, *, required: bool = True) -> date | None:
    value = text(form, name, required=required, label=label)
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label} is not a date as YYYY-MM-DD") from None
    return checked_date(parsed, label)


def form_number(form: FormData, name: str, label: str) -> float | None:
    value = text(form, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{label} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{label} is not a finite number")
    return number


def form_int(form: FormData, name: str, label: str) -> int:
    value = text(form, name, required=True, label=label)
    assert value is not None
    if not value.isdigit():
        raise InvalidInput(f"{label} is not a whole number")
    return int(value)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a long list: its items, its number (from 1) and how many there are."""

    items: Sequence[T]
    number: int
    pages: int
    total: int


def paginate(items: Sequence[T], params: QueryParams, name: str, size: int = PAGE_SIZE) -> Page[T]:
    pages = max(1, math.ceil(len(items) / size))
    raw = params.get(name, "1")
    number = min(max(int(raw), 1), pages) if raw.isdigit() and len(raw) < 7 else 1
    start = (number - 1) * size
    return Page(items[start : start + size], number, pages, len(items))
