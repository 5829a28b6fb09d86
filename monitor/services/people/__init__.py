"""Patients, their courses, and worklist accounts."""
