"""Use cases: each public function is one thing a person or the daemon does, in one transaction.

They take a Session (the caller owns the unit of work), plain values, and `now`/`today` as
parameters; they never read the clock themselves. None of them rebuilds slots: importing this
package installs the session events of `services.schedule.upkeep`, which rebuild the slots of
every patient a transaction touched before it commits.
"""

from monitor.services.schedule import upkeep as _upkeep  # noqa: F401  (installs the events)
