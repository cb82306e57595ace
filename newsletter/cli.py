"""The ``newsletter`` console script: the Flask CLI with one-line errors for expected failures."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

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
