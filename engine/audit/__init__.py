"""Auditing the history: checking chains, item rows and workflow versions against what vouches for them."""
