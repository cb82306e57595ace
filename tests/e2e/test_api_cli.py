"""The console script and the API together: a token from `newsletter token create` pushes an
article to the real web server, and `newsletter articles import` reads tests/data/articles.json."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.e2e.conftest import clean_env, free_port, newsletter_process, wait_for_http
from tests.e2e.test_cli import run

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "articles.json"


def test_token_from_cli_pushes_to_served_api(tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    created = run(["token", "create", "cms"], tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    imported = run(["articles", "import", str(FIXTURES)], tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip().startswith("created 7, updated 0, skipped 0")
    bad = run(["articles", "import", "https://127.0.0.1:9/feed"], tmp_path)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    # The embedded default refuses inside addresses before connecting (issue 12, item 5).
    # (the log line before it keeps the detail: which address, and why)
    assert bad.stderr.strip().splitlines()[-1] == (
        "Error: https://127.0.0.1:9/feed: this address cannot be fetched"
    )

    port = free_port()
    env = clean_env(tmp_path / "instance")
    with newsletter_process(["serve", "--host", "127.0.0.1", "--port", str(port)], env) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", proc)
        headers = {"Authorization": f"Bearer {token}"}
        article = {
            "title": "Nuovo sportello per le famiglie",
            "url": "https://cms.example/1",
            "published_at": "2026-11-20T09:00:00+01:00",
            "body": "Lo sportello dei servizi sociali aiuta le famiglie con minori.",
        }
        first = requests.post(f"{base}/api/v1/articles", json=article, headers=headers, timeout=10)
        assert first.status_code == 201, first.text
        assert first.json()["topics"] == ["welfare"]
        second = requests.post(f"{base}/api/v1/articles", json=article, headers=headers, timeout=10)
        assert second.status_code == 200
        listed = requests.get(f"{base}/api/v1/articles?limit=3", headers=headers, timeout=10)
        assert next(a["title"] for a in listed.json()["articles"]) == article["title"]
        denied = requests.get(f"{base}/api/v1/articles", timeout=10)
        assert denied.status_code == 401
