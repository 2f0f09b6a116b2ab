"""The web API: ``create_app(settings)`` builds the Flask app (see app.py and docs/api.md)."""

from __future__ import annotations

from .app import create_app
from .settings import WebSettings

__all__ = ["WebSettings", "create_app"]
