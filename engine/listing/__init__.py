"""Reading the item list fast: text search indexes (FTS5 trigram, pg_trgm) and reading few-match filters directly."""

# The item columns ``q=`` searches, for the text indexes and the counts of their trigrams alike.
SEARCHED = ("number", "external_ref", "title", "description")
