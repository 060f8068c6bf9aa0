"""Reading the item list fast: text search indexes (FTS5 trigram, pg_trgm) and reading few-match filters directly."""
