"""Per-request work that feed polls do not need, skipped for ``/feeds/`` only.

Feed readers send no cookies and feeds use no session: opening one still builds a signing
serializer per request. The wrapper leaves every other URL to the app's own session interface.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin

FEEDS_PREFIX = "/feeds/"


class SessionlessFeeds(SessionInterface):
    def __init__(self, inner: SessionInterface) -> None:
        self.inner = inner

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith(FEEDS_PREFIX):
            return None  # Flask falls back to a null session
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self.inner.save_session(app, session, response)

    def make_null_session(self, app: Flask) -> Any:
        return self.inner.make_null_session(app)

    def is_null_session(self, obj: object) -> bool:
        return self.inner.is_null_session(obj)


def install(app: Flask) -> None:
    if not isinstance(app.session_interface, SessionlessFeeds):
        app.session_interface = SessionlessFeeds(app.session_interface)
