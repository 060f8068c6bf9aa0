"""The text search's statistics: how many items hold each common trigram (engine.listing.termstats)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class SearchTerm(SQLModel, table=True):
    """One trigram held by at least termstats.COMMON items, and how many; the empty term says when the counts
    were made and among how many items (migration 0016)."""

    __tablename__ = "search_terms"
    term: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    items: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
