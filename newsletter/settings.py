"""Turns a config class plus ``NEWSLETTER_*`` environment variables into Flask config."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config import CONFIGS, Config
from newsletter.exceptions import ConfigurationError
from newsletter.signing import parse_fallbacks, secret_keys

PREFIX = "NEWSLETTER_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _coerce(raw: str, default: Any) -> Any:
    """Parse an environment string into the type of the default it overrides."""
    if isinstance(default, bool):
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigurationError(f"{PREFIX}…: expected true/false, got {raw!r}")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple | list):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(default, dict):
        return json.loads(raw)
    return raw


def select_config(name: str | None) -> type[Config]:
    name = (name or os.environ.get(f"{PREFIX}ENV") or "embedded").lower()
    try:
        return CONFIGS[name]
    except KeyError:
        known = ", ".join(sorted(CONFIGS))
        raise ConfigurationError(f"unknown {PREFIX}ENV {name!r} (known: {known})") from None


def apply_environment(app: Flask, environ: Mapping[str, str]) -> None:
    for key, raw in environ.items():
        if not key.startswith(PREFIX) or key == f"{PREFIX}ENV":
            continue
        name = key[len(PREFIX) :]
        if name.startswith("TEST_"):
            continue  # the test suite's own switches, not app settings
        try:
            app.config[name] = _coerce(raw, app.config.get(name))
        except ValueError as exc:
            raise ConfigurationError(f"{key}: {exc}") from None


def finalize(app: Flask) -> None:
    """Derive what follows from the settings, and refuse a production start without secrets."""
    cfg = app.config
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'newsletter.sqlite3'}"
    url = str(cfg["DATABASE_URL"])
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    cfg["DATABASE_URL"] = url
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if url.startswith("sqlite"):
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    else:
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}

    if not cfg.get("SECRET_KEY"):
        if cfg["ENV_NAME"] == "production":
            raise ConfigurationError(
                f"{PREFIX}SECRET_KEY must be set in production (e.g. `python -c "
                '"import secrets; print(secrets.token_urlsafe(48))"`)'
            )
        cfg["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    # Old keys verify, the current one signs (Flask's session cookie reads the same setting).
    cfg["SECRET_KEY_FALLBACKS"] = [
        key for key in parse_fallbacks(cfg.get("SECRET_KEY_FALLBACKS")) if key != cfg["SECRET_KEY"]
    ]
    if cfg["SECRET_KEY_FALLBACKS"] and not cfg.get("WTF_CSRF_SECRET_KEY"):
        # Flask-WTF passes this to itsdangerous, which accepts a key list: forms opened before
        # the rotation can still be submitted.
        cfg["WTF_CSRF_SECRET_KEY"] = secret_keys(cfg)

    if cfg["SMTP_SECURITY"] not in {"none", "starttls", "tls"}:
        raise ConfigurationError(
            f"{PREFIX}SMTP_SECURITY must be none, starttls or tls, not {cfg['SMTP_SECURITY']!r}"
        )
    try:
        schedule = [float(x) for x in str(cfg["RETRY_SCHEDULE"]).split(",") if x.strip()]
    except ValueError:
        raise ConfigurationError(
            f"{PREFIX}RETRY_SCHEDULE must be comma-separated seconds, not {cfg['RETRY_SCHEDULE']!r}"
        ) from None
    if not schedule or min(schedule) < 0:
        raise ConfigurationError(f"{PREFIX}RETRY_SCHEDULE needs at least one value >= 0")
    cfg["RETRY_SCHEDULE_SECONDS"] = tuple(schedule)
    networks = cfg.get("FETCH_ALLOWED_NETWORKS") or ()
    if isinstance(networks, str):
        networks = tuple(part.strip() for part in networks.split(",") if part.strip())
    try:
        for network in networks:
            ipaddress.ip_network(network, strict=False)
    except ValueError as exc:
        raise ConfigurationError(f"{PREFIX}FETCH_ALLOWED_NETWORKS: {exc}") from None
    cfg["FETCH_ALLOWED_NETWORKS"] = tuple(networks)
    if cfg["ENV_NAME"] == "production" and cfg.get("FETCH_ALLOW_PRIVATE"):
        raise ConfigurationError(
            f"{PREFIX}FETCH_ALLOW_PRIVATE=1 is for tests and the demo; in production let the "
            f"intranet hosts through with {PREFIX}FETCH_ALLOWED_NETWORKS"
        )
    cfg["BASE_URL"] = str(cfg["BASE_URL"]).rstrip("/")
    cfg["BABEL_DEFAULT_LOCALE"] = cfg["DEFAULT_LOCALE"]
    cfg["BABEL_DEFAULT_TIMEZONE"] = cfg["TIMEZONE"]
    # Each package that shows text keeps its own catalogue; Flask-Babel merges them all.
    cfg["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(
        str(path) for path in sorted((PROJECT_ROOT / "newsletter").glob("**/translations"))
    )
    cfg.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    if cfg["ENV_NAME"] == "production":
        if not cfg.get("ADMIN_REQUIRE_TOTP"):
            raise ConfigurationError(
                f"{PREFIX}ADMIN_REQUIRE_TOTP cannot be turned off in production: administrators "
                "sign in with a second factor"
            )
        problem = rate_limit_storage_problem(cfg, os.environ)
        if problem:
            raise ConfigurationError(problem)
    cfg["EMAIL_TEMPLATES_DIR"] = str(PROJECT_ROOT / "templates" / "email")


def web_workers(cfg: Mapping[str, Any], environ: Mapping[str, str]) -> int:
    """How many web processes serve this app: ``newsletter serve`` sets WEB_WORKERS; under
    bare gunicorn, its own WEB_CONCURRENCY or ``-w``/``--workers`` in GUNICORN_CMD_ARGS."""
    if int(cfg.get("WEB_WORKERS") or 0) > 0:
        return int(cfg["WEB_WORKERS"])
    if environ.get("WEB_CONCURRENCY", "").strip().isdigit():
        return int(environ["WEB_CONCURRENCY"])
    args = environ.get("GUNICORN_CMD_ARGS", "").replace("=", " ").split()
    for flag, value in itertools.pairwise(args):
        if flag in ("-w", "--workers") and value.isdigit():
            return int(value)
    return 1


def rate_limit_storage_problem(cfg: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """memory:// counts per process: with N web workers, N times the limit gets through."""
    storage = str(cfg.get("RATELIMIT_STORAGE_URI") or "memory://")
    if cfg.get("RATELIMIT_ENABLED") is False or not storage.startswith("memory://"):
        return None
    workers = web_workers(cfg, environ)
    if workers <= 1:
        return None
    return (
        f"rate limits use memory:// storage with {workers} web workers: each worker counts "
        f"apart, so login and sign-up limits are {workers} times weaker; set "
        f"{PREFIX}RATELIMIT_STORAGE_URI=redis://... (or run one worker)"
    )


def _instance_secret(instance: Path) -> str:
    """The embedded setup keeps a random key in the instance folder, created on first start."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
