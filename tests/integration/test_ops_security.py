"""Operations surface hardening: /metrics behind a bearer token (404 in production without
it), and rate limits that several workers would count apart (memory:// storage)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from newsletter.exceptions import ConfigurationError
from tests.conftest import make_app

TOKEN = "scrape-7Hq2LxN9"
PROD = {"ENV_NAME": "production", "SECRET_KEY": "k" * 48}


def test_metrics_token_is_required_when_set(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path / "i", METRICS_TOKEN=TOKEN)
    client = app.test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert "subscribers" not in missing.get_data(as_text=True)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert "newsletter_subscribers" in ok.get_data(as_text=True)


def test_metrics_in_production_say_404_without_the_token(database_url: str, tmp_path: Path) -> None:
    unset = make_app(database_url, tmp_path / "a", **PROD).test_client()
    assert unset.get("/metrics").status_code == 404
    assert unset.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    client = make_app(database_url, tmp_path / "b", METRICS_TOKEN=TOKEN, **PROD).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 404
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert "newsletter_subscribers" in ok.get_data(as_text=True)


def test_open_metrics_outside_production_without_a_token(app: Flask) -> None:
    assert app.test_client().get("/metrics").status_code == 200


def test_healthz_warns_when_workers_count_rate_limits_apart(
    database_url: str, tmp_path: Path
) -> None:
    shared = make_app(database_url, tmp_path / "a", WEB_WORKERS=4)
    body = shared.test_client().get("/healthz").get_json()
    assert body["status"] == "degraded"
    (warning,) = body["warnings"]
    assert "memory://" in warning
    assert "4 web workers" in warning
    single = make_app(database_url, tmp_path / "b", WEB_WORKERS=1).test_client()
    assert single.get("/healthz").get_json()["warnings"] == []
    redis = make_app(
        database_url, tmp_path / "c", WEB_WORKERS=4, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0"
    )
    assert redis.test_client().get("/healthz").get_json()["warnings"] == []


def test_gunicorn_worker_count_from_its_own_environment(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bare gunicorn (wsgi:app) has no --workers of ours: WEB_CONCURRENCY tells."""
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    with caplog.at_level("WARNING", logger="newsletter.ops"):
        app = make_app(database_url, tmp_path / "a")
    assert any("3 web workers" in r.getMessage() for r in caplog.records)  # at start
    assert "3 web workers" in app.test_client().get("/healthz").get_json()["warnings"][0]
    monkeypatch.delenv("WEB_CONCURRENCY")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--bind 127.0.0.1:9 --workers=5")
    app = make_app(database_url, tmp_path / "b")
    assert "5 web workers" in app.test_client().get("/healthz").get_json()["warnings"][0]


def test_production_refuses_memory_limits_with_several_workers(
    database_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        make_app(database_url, tmp_path / "a", WEB_WORKERS=2, **PROD)
    make_app(database_url, tmp_path / "b", WEB_WORKERS=1, **PROD)
    make_app(
        database_url,
        tmp_path / "c",
        WEB_WORKERS=2,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        **PROD,
    )


def test_serve_refuses_in_production_and_warns_elsewhere(database_url: str, tmp_path: Path) -> None:
    prod = make_app(database_url, tmp_path / "a", **PROD)
    refused = prod.test_cli_runner().invoke(args=["serve", "--workers", "3", "--port", "9"])
    assert refused.exit_code != 0
    assert "memory://" in refused.output
    assert "3 web workers" in refused.output
    # Outside production the same start goes ahead with a loud warning (checked without
    # starting gunicorn: the check is what `serve` runs first).
    from newsletter.ops.cli import check_rate_limit_storage

    dev = make_app(database_url, tmp_path / "b")
    with dev.app_context():
        check_rate_limit_storage(dev, 3)
    assert dev.config["WEB_WORKERS"] == 3
    assert dev.test_client().get("/healthz").get_json()["status"] == "degraded"
