"""The pure core: clinical date logic and result rules.

Nothing here touches a database, the clock, the network or the file system; "today" is always a
parameter. Only the standard library and dateutil are imported.
"""
