"""The web pages, one module per page (or pair of pages)."""
