"""Use cases: each public function is one thing a person or the daemon does, in one transaction.

They take a Session (the caller owns the unit of work), plain values, and `now`/`today` as
parameters; they never read the clock themselves.
"""
