"""Reference data: topics and the area's municipalities."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.reference.cli import municipalities_cli

    app.cli.add_command(municipalities_cli)
