"""What gets sent: the daily cycle's reminders and digests, the outbox, emails the server never
confirmed, whether the clinic is configured.
"""
