"""Notifications: render messages from templates (pure), build MIME, deliver through a transport.

Rendering never sends and sending never decides: `services/daily.py` decides and queues rendered
messages in the outbox; `services/outbox.py` delivers them later through a transport.
"""
