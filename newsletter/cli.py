"""The ``newsletter`` console script: the Flask CLI with one-line errors for expected failures."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, NoAppException, ScriptInfo

from newsletter.cliutil import one_line_errors
from newsletter.exceptions import NewsletterError


def _load_app() -> Flask:
    from newsletter import create_app

    try:
        return create_app()
    except NewsletterError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(2)


class NewsletterGroup(FlaskGroup):
    """Turns expected failures into ``Error: ...`` on stderr and a non-zero exit, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The app's own commands are found before the plugins' are imported: Flask loads
        every ``flask.commands`` entry point first, and Flask-Limiter's pulls in rich, 0.1 s
        of every command's start-up (the sender's among them)."""
        if name not in self.commands:  # not one of Flask's (run, shell, routes)
            try:
                app = ctx.ensure_object(ScriptInfo).load_app()
            except NoAppException:
                app = None
            if app is not None and (found := app.cli.get_command(ctx, name)) is not None:
                if not current_app or current_app._get_current_object() is not app:  # type: ignore[attr-defined]
                    ctx.with_resource(app.app_context())
                return found
        return super().get_command(ctx, name)


cli = NewsletterGroup(
    name="newsletter",
    create_app=_load_app,
    add_version_option=False,
    help="Newsletter and notification service of the Area Omogenea Cremasca.",
)


def main() -> None:
    cli.main(prog_name="newsletter")


if __name__ == "__main__":
    main()
