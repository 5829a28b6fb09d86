"""The stored schedule: rebuilding slots from the pure schedule, whether they are current, one
patient's schedule, waivers.
"""
