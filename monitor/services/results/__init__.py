"""Taking in lab results and acting on them: storing, recognising repeats and corrections, checking
who the patient is, the quarantine, flags, feed freshness.
"""
