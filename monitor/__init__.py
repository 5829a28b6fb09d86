"""Alemtuzumab safety monitor: schedules, results, flags and reminders for MS clinics."""

__version__ = "0.1.0"
