"""Plain logs for people, JSON lines when ``NEWSLETTER_LOG_JSON`` is set (for log shippers)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from flask import Flask, has_request_context, request

# ``logger.info("...", extra={"job": "daily"})``: these extras become JSON fields.
EXTRA_FIELDS = ("job", "delivery_id", "digest_id", "source", "user", "action", "count")


# Personal tokens: whoever reads the logs must not be able to unsubscribe, export or erase
# someone, nor call the API. Path segments after these prefixes, token-like query parameters,
# and bearer credentials are replaced.
_TOKEN_PATH = re.compile(
    r"(/(?:confirm|preferences|unsubscribe|export|admin/unlock)/)[^/?#\s\"']+", re.IGNORECASE
)
_TOKEN_QUERY = re.compile(r"([?&;](?:token|access_token|api_key|key|t)=)[^&#\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(\bBearer\s+)[^\s\"',]+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """The same text with personal tokens and credentials replaced by ``[redacted]``."""
    text = _TOKEN_PATH.sub(rf"\1{REDACTED}", text)
    text = _TOKEN_QUERY.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(rf"\1{REDACTED}", text)


class RedactingFormatter(logging.Formatter):
    """Plain text logs, tokens redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time in UTC, level, logger, message, known extras, request."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in EXTRA_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if has_request_context():
            entry["method"] = request.method
            entry["path"] = redact(request.path)
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def init_app(app: Flask) -> None:
    logger = logging.getLogger("newsletter")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    if app.config.get("LOG_JSON"):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    logger.propagate = app.testing  # let pytest's caplog see records in tests
