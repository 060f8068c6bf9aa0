"""/docs (Swagger UI) and /redoc served from files installed with the package: no request leaves the server.

The scripts and stylesheet come from the fastapi-offline package, which ships Swagger UI's and ReDoc's
distribution files; FastAPI's own pages would load them, and fonts, from a CDN.
"""
from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = Path(fastapi_offline.__file__).parent / "static"
PREFIX = "/docs-assets"
# Swagger UI would otherwise send the document to validator.swagger.io to draw its "valid" badge.
SWAGGER_PARAMETERS = {"validatorUrl": None}


def _with_language(page: HTMLResponse) -> HTMLResponse:
    """The page with its language declared (FastAPI's templates leave <html> bare, which screen readers and axe's
    html-has-lang rule need): the pages' own words are English."""
    body = page.body.replace(b"<html>", b'<html lang="en">', 1)
    return HTMLResponse(body, status_code=page.status_code)


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (the app is made with docs_url and redoc_url set to None)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_language(get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/favicon.png",
                                   swagger_ui_parameters=SWAGGER_PARAMETERS))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_language(get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                              redoc_js_url=f"{PREFIX}/redoc.standalone.js", redoc_favicon_url=f"{PREFIX}/favicon.png",
                              with_google_fonts=False))
