"""The service's own health, as `monitor status`, `monitor db` and the daemon ask it.

Not about patients: whether the daily cycle ran (`runs`), whether the schema and the database
can take the service's writes (`database`), and the whole `monitor status` report with its
reasons to page, in their order (`status`; mail's part is `services.mail.health`). The CLI and
the web reach the store's migration, fault and lock helpers only through `database`.
"""
