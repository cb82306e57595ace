"""``newsletter worker``."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from newsletter.cliutil import one_line_errors


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run the scheduler (digests, polling, purges) and the sender until SIGTERM."""
    from newsletter.scheduling.worker import run_worker

    with one_line_errors():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        sys.exit(run_worker(app))
