"""``newsletter serve`` (gunicorn) and ``newsletter demo`` (everything in one process group)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from newsletter.ops import demo as demo_module


def run_gunicorn(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    """Gunicorn in-process: prefork workers use both cores; gthread handles slow clients."""
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync",
                "accesslog": "-" if os.environ.get("NEWSLETTER_ACCESS_LOG") else None,
                # Personal tokens in URLs (unsubscribe, preferences...) never reach the log.
                "logger_class": "newsletter.ops.accesslog.RedactingLogger",
                "graceful_timeout": 20,
                "keepalive": 5,
                "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    _Server().run()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app under gunicorn. Starts no scheduler."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    check_rate_limit_storage(app, workers)
    run_gunicorn(app, host, port, workers, threads)


def check_rate_limit_storage(app: Flask, workers: int) -> None:
    """Per-process rate-limit counters with several workers: refused in production, a loud
    warning elsewhere (and /healthz reports it as long as it lasts)."""
    from newsletter.settings import rate_limit_storage_problem

    app.config["WEB_WORKERS"] = workers
    problem = rate_limit_storage_problem(app.config, os.environ)
    if problem is None:
        return
    if app.config["ENV_NAME"] == "production":
        raise click.ClickException(problem)
    logging.getLogger("newsletter.ops").warning("WARNING: %s", problem)
    click.secho(f"WARNING: {problem}", fg="red", bold=True, err=True)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--smtp-port", default=8025, show_default=True, type=int)
@click.option("--no-content", is_flag=True, help="Do not load the sample articles.")
@with_appcontext
def demo_command(host: str, port: int, smtp_port: int, no_content: bool) -> None:
    """Migrate SQLite, load demo content, and run web, worker and mail capture together."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    demo_module.prepare(app, load_content=not no_content)
    env = dict(os.environ)
    env["NEWSLETTER_DEMO"] = "true"
    env["NEWSLETTER_INSTANCE_PATH"] = app.instance_path
    env["NEWSLETTER_DATABASE_URL"] = app.config["DATABASE_URL"]
    env["NEWSLETTER_SMTP_PORT"] = str(smtp_port)
    env.setdefault("NEWSLETTER_FETCH_ALLOW_PRIVATE", "1")  # the demo's feeds may be local
    env.setdefault("NEWSLETTER_QUIET_HOURS", "")  # the demo shows push notifications at any hour
    env.setdefault("NEWSLETTER_BASE_URL", f"http://{host}:{port}")
    children = [
        (name, subprocess.Popen([sys.executable, "-m", "newsletter.cli", *args], env=env))
        for name, args in demo_module.processes(app, host, port, smtp_port)
    ]
    click.echo(demo_module.banner(app, host, port, [n for n, _ in children]))
    _supervise(children)


def _supervise(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """Wait until Ctrl-C or a child dies, then stop them all."""
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    failed: str | None = None
    while not stopping and failed is None:
        time.sleep(0.3)
        for name, proc in children:
            if proc.poll() is not None:
                failed = name
    for _name, proc in children:
        if proc.poll() is None:
            proc.terminate()
    for _name, proc in children:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    if failed is not None:
        raise click.ClickException(f"the demo's {failed} process stopped; see its output above")
