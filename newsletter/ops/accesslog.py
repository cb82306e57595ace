"""Gunicorn's access log without personal tokens.

The request line, path, query string, referrer and every header value go through
``newsletter.logging_setup.redact``; Authorization and Cookie values are dropped whole.
``newsletter serve`` uses it; with bare gunicorn pass
``--logger-class newsletter.ops.accesslog.RedactingLogger``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from newsletter.logging_setup import REDACTED, redact

SECRET_HEADERS = frozenset(
    {
        "{authorization}i",
        "{cookie}i",
        "{x-api-key}i",
        "{set-cookie}o",
        "{http_authorization}e",
        "{http_cookie}e",
    }
)


class RedactingLogger(Logger):  # type: ignore[misc]
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if key in SECRET_HEADERS and value not in ("", "-"):
                atoms[key] = REDACTED
            elif isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
