"""Newsletter and notification service of the Area Omogenea Cremasca."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import Config
from newsletter import settings

# Each domain package exposes ``init_app(app)`` to register its blueprint, CLI commands and hooks.
DOMAINS = (
    "reference",
    "subscriptions",
    "articles",
    "digests",
    "delivery",
    "push",
    "telegram",
    "alerts",
    "scheduling",
    "feeds",
    "public",
    "feedback",
    "api",
    "admin",
    "ops",
)


def create_app(config: str | type[Config] | Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` is a config name, a config class, or a mapping of overrides.

    Environment variables ``NEWSLETTER_*`` override the class; a mapping overrides both.
    """
    overrides: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
    if isinstance(config, type):
        config_cls = config
    else:
        name = config if isinstance(config, str) else overrides.get("ENV_NAME")
        config_cls = settings.select_config(name)

    instance_path = overrides.get("INSTANCE_PATH") or os.environ.get("NEWSLETTER_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    app.config.from_object(config_cls)
    app.config.from_pyfile("newsletter.cfg", silent=True)
    settings.apply_environment(app, os.environ)
    app.config.update(overrides)
    settings.finalize(app)

    from newsletter import extensions, formguard, i18n, logging_setup, models, web

    logging_setup.init_app(app)
    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(settings.PROJECT_ROOT / "migrations")
    )
    extensions.csrf.init_app(app)
    i18n.init_app(app)
    extensions.limiter.init_app(app)
    models.init_app(app)
    web.init_app(app)
    formguard.init_app(app)
    for domain in DOMAINS:
        importlib.import_module(f"newsletter.{domain}").init_app(app)
    return app
