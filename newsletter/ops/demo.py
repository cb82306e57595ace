"""The embedded demo: what it prepares and which processes it runs.

Domains contribute sample content and child processes through ``newsletter.hooks``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from newsletter import extensions
from newsletter.hooks import registry


def prepare(app: Flask, *, load_content: bool) -> None:
    """Migrate the database (which seeds the topics and the 48 comuni) and load sample content."""
    extensions.migrate.upgrade()
    if load_content:
        for loader in registry(app).demo_content:
            loader(app)


def processes(app: Flask, host: str, port: int, smtp_port: int) -> list[tuple[str, list[str]]]:
    """The demo's child processes, each a ``newsletter`` command line: web, then the domains'."""
    ports: dict[str, Any] = {"host": host, "port": port, "smtp_port": smtp_port}
    web = ("web", ["serve", "--host", host, "--port", str(port), "--workers", "1"])
    return [web, *((name, args(app, ports)) for name, args in registry(app).demo_processes)]


def banner(app: Flask, host: str, port: int, names: list[str]) -> str:
    return "\n".join(
        [
            "Area Omogenea Cremasca newsletter: demo running (Ctrl-C to stop)",
            f"  web:       http://{host}:{port}/",
            f"  database:  {app.config['DATABASE_URL']}",
            f"  processes: {', '.join(names)}",
        ]
    )
