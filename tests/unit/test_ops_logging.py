"""JSON log lines when LOG_JSON is set: parseable, with extras, request and exception."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask

from newsletter.logging_setup import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "newsletter.delivery", logging.WARNING, __file__, 1, "sent %d", (3,), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_has_fields_and_extras() -> None:
    line = JsonFormatter().format(_record(job="daily", delivery_id=42, ignored="x"))
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "newsletter.delivery"
    assert entry["message"] == "sent 3"
    assert entry["job"] == "daily"
    assert entry["delivery_id"] == 42
    assert "ignored" not in entry
    assert entry["ts"].endswith("+00:00")


def test_json_line_carries_the_request_and_the_exception() -> None:
    app = Flask("t")
    try:
        raise ValueError("bad thing")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("newsletter", logging.ERROR, __file__, 1, "failed", (), exc_info)
    with app.test_request_context("/admin/articles", method="POST"):
        entry = json.loads(JsonFormatter().format(record))
    assert (entry["method"], entry["path"]) == ("POST", "/admin/articles")
    assert entry["exc_type"] == "ValueError"
    assert "bad thing" in entry["exc"]


def test_log_json_setting_switches_the_process_to_json(tmp_path: Path) -> None:
    script = (
        "import logging\n"
        "from newsletter import create_app\n"
        "create_app()\n"
        "logging.getLogger('newsletter.ops').info('started', extra={'job': 'poll'})\n"
    )
    env = {
        **os.environ,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path),
        "NEWSLETTER_LOG_JSON": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entry = json.loads(done.stderr.strip().splitlines()[-1])
    assert entry["message"] == "started"
    assert entry["job"] == "poll"
    plain = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "NEWSLETTER_LOG_JSON": "false"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "INFO newsletter.ops: started" in plain.stderr
