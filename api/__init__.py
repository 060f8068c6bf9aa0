"""closeloop's outer interfaces: the HTTP API (FastAPI) and the command line."""
