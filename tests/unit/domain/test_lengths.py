"""Lengths in a protocol (`<n>d`, `<n>w`, `<n>m`): reading them and adding them to a date."""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.lengths import Length, LengthError, Unit, parse_length
from monitor.errors import InvalidInput

D = date.fromisoformat


@pytest.mark.parametrize(
    ("text", "minimum", "expected"),
    [
        ("1d", 1, Length(1, Unit.DAYS)),
        ("2w", 1, Length(2, Unit.WEEKS)),
        ("6m", 1, Length(6, Unit.MONTHS)),
        ("0m", 0, Length(0, Unit.MONTHS)),
        ("0d", 0, Length(0, Unit.DAYS)),
        ("240m", 1, Length(240, Unit.MONTHS)),
        ("1044w", 1, Length(1044, Unit.WEEKS)),
        ("7305d", 1, Length(7305, Unit.DAYS)),
    ],
)
def test_a_length_reads_as_its_number_and_unit(text: str, minimum: int, expected: Length) -> None:
    assert parse_length(text, minimum=minimum) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("value", "minimum", "fragment"),
    [
        (3, 1, "a bare number is not a length"),
        (2.5, 1, "a bare number is not a length"),
        ("3", 1, "'3' is not a length"),
        ("3y", 1, "'3y' is not a length"),
        ("3M", 1, "'3M' is not a length"),
        ("3 m", 1, "'3 m' is not a length"),
        ("m", 1, "'m' is not a length"),
        ("", 1, "'' is not a length"),
        ("1.5m", 1, "'1.5m' is not a length"),
        ("-1m", 0, "'-1m': the number must be at least 0"),
        ("0m", 1, "'0m': the number must be at least 1"),
        ("0w", 1, "'0w': the number must be at least 1"),
        ("241m", 1, "'241m' is longer than 240m"),
        ("1045w", 1, "'1045w' is longer than 1044w"),
        ("7306d", 0, "'7306d' is longer than 7305d"),
        ("1" * 5000 + "m", 1, "is not a length"),
        (None, 1, "None is not a length"),
    ],
)
def test_a_bad_length_is_refused_naming_the_value(
    value: object, minimum: int, fragment: str
) -> None:
    with pytest.raises(LengthError) as caught:
        parse_length(value, minimum=minimum)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        ("2024-01-31", Length(1, Unit.MONTHS), "2024-02-29"),  # clamped to the month's end
        ("2023-01-31", Length(1, Unit.MONTHS), "2023-02-28"),
        ("2024-01-31", Length(2, Unit.MONTHS), "2024-03-31"),  # not 29 Mar: counted at once
        ("2024-02-29", Length(12, Unit.MONTHS), "2025-02-28"),
        ("2024-01-31", Length(0, Unit.MONTHS), "2024-01-31"),
        ("2024-12-25", Length(2, Unit.WEEKS), "2025-01-08"),  # weeks are 7 days
        ("2024-02-28", Length(2, Unit.DAYS), "2024-03-01"),
        ("2024-03-30", Length(1, Unit.DAYS), "2024-03-31"),  # dates, no clock change
    ],
)
def test_a_length_after_a_date(start: str, length: Length, expected: str) -> None:
    assert length.after(D(start)) == D(expected)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)),
    st.integers(0, 240),
)
def test_months_after_a_date_equal_relativedelta(day: date, months: int) -> None:
    assert Length(months, Unit.MONTHS).after(day) == day + relativedelta(months=months)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)),
    st.integers(0, 1044),
)
def test_weeks_after_a_date_are_seven_days_each(day: date, weeks: int) -> None:
    assert Length(weeks, Unit.WEEKS).after(day) == Length(7 * weeks, Unit.DAYS).after(day)
