"""closeloop's domain: workflows, items, the transition engine and the history chain.

Nothing in this package imports the web framework; the API in ``api`` depends on it, never the reverse.
"""
