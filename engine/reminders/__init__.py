"""Reminders and 督办 escalations: the workflow's rules turned into notices, issued once by the sweep."""
