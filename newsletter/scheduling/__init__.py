"""Scheduling: the worker process, its jobs and catch-up after downtime."""

from __future__ import annotations

from flask import Flask

from newsletter.hooks import register_demo_process


def init_app(app: Flask) -> None:
    from newsletter.scheduling.cli import worker_command

    app.cli.add_command(worker_command)
    register_demo_process(app, "worker", lambda app, ports: ["worker"])
