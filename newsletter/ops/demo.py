"""The embedded demo: what it prepares and which processes it runs."""

from __future__ import annotations

from flask import Flask
from flask_migrate import upgrade

from newsletter.reference import service as reference


def prepare(app: Flask, *, load_content: bool) -> None:
    """Migrate the database and load the municipalities (and sample content) once."""
    upgrade(directory=app.extensions["migrate"].directory)
    reference.import_bundled_municipalities()
    if load_content:
        for loader in DEMO_CONTENT_LOADERS:
            loader(app)


# Later domains append functions that add sample content (articles, subscribers, ...).
DEMO_CONTENT_LOADERS: list = []  # type: ignore[type-arg]


def processes(host: str, port: int, smtp_port: int) -> list[tuple[str, list[str]]]:
    """The demo's child processes, each a ``newsletter`` command line."""
    return [("web", ["serve", "--host", host, "--port", str(port), "--workers", "1"])]


def banner(app: Flask, host: str, port: int, smtp_port: int, names: list[str]) -> str:
    return "\n".join(
        [
            "Area Omogenea Cremasca newsletter: demo running (Ctrl-C to stop)",
            f"  web:      http://{host}:{port}/",
            f"  database: {app.config['DATABASE_URL']}",
            f"  processes: {', '.join(names)}",
        ]
    )
