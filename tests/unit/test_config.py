from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from newsletter import create_app
from newsletter.db import UTCDateTime
from newsletter.exceptions import ConfigurationError
from newsletter.subscriptions.models import normalize_email


def test_environment_overrides_with_types(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_PORT", "2525")
    monkeypatch.setenv("NEWSLETTER_SEND_RATE", "12.5")
    monkeypatch.setenv("NEWSLETTER_RETRY_SCHEDULE", "5, 10")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.org/")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SMTP_PORT"] == 2525
    assert app.config["SEND_RATE"] == 12.5
    assert app.config["RETRY_SCHEDULE_SECONDS"] == (5.0, 10.0)
    assert app.config["BASE_URL"] == "https://news.example.org"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'newsletter.sqlite3'}"


def test_embedded_default_keeps_a_generated_secret(tmp_path: Path) -> None:
    first = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    assert first == second
    assert len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SECRET_KEY must be set"):
        create_app({"ENV_NAME": "production", "INSTANCE_PATH": str(tmp_path)})


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgres://u@db.example/news"}
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/news"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMTP_SECURITY", "ssl", "SMTP_SECURITY must be none, starttls or tls"),
        ("RETRY_SCHEDULE", "soon", "RETRY_SCHEDULE must be comma-separated seconds"),
    ],
)
def test_bad_settings_are_one_clear_error(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path), name: value})


def test_naive_datetimes_are_refused() -> None:
    from sqlalchemy.dialects import sqlite

    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), sqlite.dialect())


def test_email_normalisation() -> None:
    assert normalize_email("  Mario.Rossi@Comune.Crema.CR.IT ") == "mario.rossi@comune.crema.cr.it"


def test_secret_key_fallbacks_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from newsletter.signing import secret_keys

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "current")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY_FALLBACKS", " previous, ,older,current,previous ")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    # Most recent first, blanks, repeats and the current key itself dropped.
    assert app.config["SECRET_KEY_FALLBACKS"] == ["previous", "older"]
    # itsdangerous signs with the last key and tries the newest first.
    assert secret_keys(app.config) == ["older", "previous", "current"]
    assert app.config["WTF_CSRF_SECRET_KEY"] == ["older", "previous", "current"]
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY_FALLBACKS")
    plain = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert plain.config["SECRET_KEY_FALLBACKS"] == []
    assert not plain.config.get("WTF_CSRF_SECRET_KEY")
    assert secret_keys(plain.config) == ["current"]


def test_fetch_settings_are_checked(tmp_path: Path) -> None:
    base = {"ENV_NAME": "production", "SECRET_KEY": "k" * 40, "INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigurationError, match="FETCH_ALLOWED_NETWORKS"):
        create_app({**base, "FETCH_ALLOW_PRIVATE": True})
    with pytest.raises(ConfigurationError, match="FETCH_ALLOWED_NETWORKS"):
        create_app({**base, "FETCH_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-network"})
    app = create_app({**base, "FETCH_ALLOWED_NETWORKS": "10.20.0.5/32, 192.168.0.0/16"})
    assert app.config["FETCH_ALLOWED_NETWORKS"] == ("10.20.0.5/32", "192.168.0.0/16")
