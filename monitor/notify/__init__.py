"""Notifications: render messages from templates (pure), build MIME, deliver through a transport.

Every message is registered once in `notify.registry` (name, audience, builders, dedupe key).
Rendering never sends and sending never decides: `services/mail/daily.py` decides, and
`services/mail/queueing.queue_message` renders and queues in the outbox;
`services/mail/outbox.py` delivers later through a transport.
"""
