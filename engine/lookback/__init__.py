"""Look-back (回头看): reproducible samples of closed items and their re-checks."""
