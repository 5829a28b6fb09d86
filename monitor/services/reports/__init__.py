"""Reports for the service lead: adherence to the schedule (the audit measures), and the list a
US prescriber keeps for the Lemtrada REMS. Counted in SQL from the stored slots with
`store.slot_predicates`, the conditions the overdue list uses.
"""
