"""Reports: closure, overdue and reopen figures per group, aggregated in SQL."""
