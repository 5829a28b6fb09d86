"""Storage: SQLAlchemy models, the engine, and the queries the services need.

Knows nothing of email, the scheduler or the CLI.
"""
