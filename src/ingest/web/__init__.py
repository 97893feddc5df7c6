"""``ingest web``: the archive in a browser, read-only, served by ingest itself (Starlette, Jinja2
templates, no JavaScript). Every page is also JSON at the same URL (``.json``, or ``Accept:
application/json``). The pages are a thin layer over :class:`ingest.Archive` and ``store/``'s reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.web.app import create_app
    from ingest.web.security import is_loopback

_PUBLIC = {"create_app": "app", "is_loopback": "security"}
__all__ = ["create_app", "is_loopback"]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
