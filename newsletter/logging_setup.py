"""Plain logs for people, JSON lines when ``NEWSLETTER_LOG_JSON`` is set (for log shippers)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Flask, has_request_context, request

# ``logger.info("...", extra={"job": "daily"})``: these extras become JSON fields.
EXTRA_FIELDS = ("job", "delivery_id", "digest_id", "source", "user", "action", "count")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time in UTC, level, logger, message, known extras, request."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EXTRA_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if has_request_context():
            entry["method"] = request.method
            entry["path"] = request.path
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def init_app(app: Flask) -> None:
    logger = logging.getLogger("newsletter")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    if app.config.get("LOG_JSON"):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    logger.propagate = app.testing  # let pytest's caplog see records in tests
