"""Personal tokens never reach the logs: gunicorn's access log and our JSON/plain lines."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from flask import Flask
from gunicorn.config import Config

from newsletter.logging_setup import JsonFormatter, RedactingFormatter, redact
from newsletter.ops.accesslog import RedactingLogger

TOKEN = "MTIz.aw0xqw.Zm9vYmFyYmF6cXV4"  # shaped like an itsdangerous token
API = "nl_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_redact_covers_every_personal_link_and_bearer_credentials() -> None:
    for path in (
        f"/confirm/{TOKEN}",
        f"/preferences/{TOKEN}",
        f"/preferences/{TOKEN}/erase",
        f"/unsubscribe/{TOKEN}",
        f"/export/{TOKEN}",
        f"/admin/unlock/{TOKEN}",
        f"/feeds/x?token={TOKEN}",
    ):
        cleaned = redact(f"GET {path} HTTP/1.1")
        assert TOKEN not in cleaned, path
        assert "[redacted]" in cleaned
    assert API not in redact(f"Authorization: Bearer {API}")
    # Ordinary paths stay readable.
    assert redact("GET /archive/12?page=2 HTTP/1.1") == "GET /archive/12?page=2 HTTP/1.1"


def _access_line(tmp_path: Path, environ: dict[str, str], headers: list[tuple[str, str]]) -> str:
    """Gunicorn's own access logger, writing with its own format (plus the Authorization and
    Referer headers, which a custom format may add)."""
    cfg = Config()
    log_file = tmp_path / "access.log"
    cfg.set("accesslog", str(log_file))
    cfg.set(
        "access_log_format",
        '%(h)s "%(r)s" %(s)s "%(f)s" "%(a)s" %(U)s %(q)s auth=%({authorization}i)s',
    )
    logger = RedactingLogger(cfg)
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    logger.access(response, headers, environ, timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.flush()
    return log_file.read_text()


def test_gunicorn_access_log_has_no_tokens(tmp_path: Path) -> None:
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/unsubscribe/{TOKEN}?lang=it",
        "PATH_INFO": f"/unsubscribe/{TOKEN}",
        "QUERY_STRING": "lang=it",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://newsletter.example.org/preferences/{TOKEN}",
        "HTTP_USER_AGENT": "Mail client",
    }
    headers = [("Authorization", f"Bearer {API}"), ("User-Agent", "Mail client")]
    line = _access_line(tmp_path, environ, headers)
    assert "/unsubscribe/[redacted]" in line
    assert "/preferences/[redacted]" in line
    assert TOKEN not in line
    assert API not in line
    assert "auth=[redacted]" in line
    assert " 200 " in line


def test_json_and_plain_log_lines_have_no_tokens() -> None:
    app = Flask("t")
    record = logging.LogRecord(
        "newsletter.public", logging.INFO, __file__, 1, "bad link %s", (f"/export/{TOKEN}",), None
    )
    with app.test_request_context(f"/preferences/{TOKEN}", method="POST"):
        entry = json.loads(JsonFormatter().format(record))
        plain = RedactingFormatter("%(message)s").format(record)
    assert entry["path"] == "/preferences/[redacted]"
    assert TOKEN not in entry["message"]
    assert TOKEN not in plain
    assert "/export/[redacted]" in plain
