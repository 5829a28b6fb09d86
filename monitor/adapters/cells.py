"""Cells of the spreadsheets the service writes (CSV exports of lists and reports)."""

from __future__ import annotations


def safe_cell(value: str) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection: =, +, -, @, tab, CR)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
