"""`make run` runs `newsletter demo`: on a fresh instance folder it must serve the home page."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.e2e.conftest import clean_env, free_port, newsletter_process, wait_for_http


def test_demo_serves_the_italian_home_page_from_a_fresh_sqlite(tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    env = clean_env(tmp_path / "instance")
    args = ["demo", "--port", str(port), "--smtp-port", str(smtp_port)]
    with newsletter_process(args, env) as proc:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc)
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert '<html lang="it">' in page.text
        for name in ("Welfare", "Mobilità", "Energia", "Governance"):
            assert name in page.text
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["status"] == "ok"
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert (tmp_path / "instance" / "newsletter.sqlite3").exists()
