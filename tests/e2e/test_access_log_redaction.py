"""`newsletter serve`'s access log (gunicorn) never shows a personal token."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.e2e.conftest import clean_env, free_port, newsletter_process, wait_for_http

TOKEN = "eyJzIjo0Mn0.aw0xqw.c2VjcmV0LXBhcnQtb2YtdGhlLWxpbms"
API = "nl_0123456789abcdef0123456789abcdef"


def test_serve_access_log_redacts_tokens(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path / "instance", NEWSLETTER_ACCESS_LOG="1")
    subprocess.run(
        [sys.executable, "-m", "newsletter.cli", "db", "upgrade"], env=env, check=True, timeout=120
    )
    base = f"http://127.0.0.1:{port}"
    with newsletter_process(["serve", "--port", str(port), "--workers", "1"], env) as proc:
        wait_for_http(base + "/healthz", proc)
        requests.get(f"{base}/unsubscribe/{TOKEN}", timeout=10)
        requests.get(f"{base}/preferences/{TOKEN}?lang=en", timeout=10)
        requests.get(
            f"{base}/api/v1/topics", headers={"Authorization": f"Bearer {API}"}, timeout=10
        )
        requests.get(f"{base}/archive", timeout=10)
        time.sleep(0.5)
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode("utf-8", "replace")
    assert "GET /archive" in output  # the access log is on
    assert "/unsubscribe/[redacted]" in output
    assert "/preferences/[redacted]?lang=en" in output
    assert TOKEN not in output
    assert API not in output
