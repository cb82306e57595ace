"""Extensions created unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from newsletter.db import Base

_PENDING = "newsletter.migrations"  # (db, directory) until Flask-Migrate is bound


class Migrations:
    """Flask-Migrate, bound on first use: it imports alembic (about 0.1 s), which the web
    server, the sender and every command but ``db ...`` and ``demo`` never need."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def init_app(self, app: Flask, db: SQLAlchemy, *, directory: str) -> None:
        app.extensions[_PENDING] = (db, directory)
        app.cli.add_command(_DbGroup(self))

    def bind(self, app: Flask) -> str:
        """Flask-Migrate's own ``init_app`` (its ``db`` commands, the configuration
        ``migrations/env.py`` reads), once; the migrations' directory."""
        if "migrate" not in app.extensions:
            from flask_migrate import Migrate

            db, directory = app.extensions[_PENDING]
            Migrate(**self.options).init_app(app, db, directory=directory)
        return str(app.extensions["migrate"].directory)

    def upgrade(self, revision: str = "heads") -> None:
        """``db upgrade`` for the current app (the demo, the tests)."""
        from flask_migrate import upgrade

        upgrade(directory=self.bind(current_app), revision=revision)


class _DbGroup(click.Group):
    """The ``db`` group's name and help (``newsletter --help`` needs no more) until it is
    run: then Flask-Migrate's own group, with its options, parses and runs the command."""

    def __init__(self, migrations: Migrations) -> None:
        super().__init__("db", help="Perform database migrations.")
        self.migrations = migrations

    def _real(self, ctx: click.Context | None) -> click.Group:
        ctx = ctx or click.get_current_context()
        self.migrations.bind(ctx.ensure_object(ScriptInfo).load_app())
        from flask_migrate.cli import db as real

        assert isinstance(real, click.Group)
        return real

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self._real(parent).make_context(info_name, args, parent=parent, **extra)


db = SQLAlchemy(model_class=Base)
migrate = Migrations(compare_type=True, render_as_batch=True)
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
