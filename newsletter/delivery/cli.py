"""``newsletter send``, ``newsletter bounces serve|process`` and ``newsletter mailcapture``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from newsletter.cliutil import CommandGroup, one_line_errors, read_text_file
from newsletter.delivery import bounces, store
from newsletter.delivery.sender import Sender, serve_forever
from newsletter.delivery.transport import RelayPool, Transport
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.progress import progress


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


@contextmanager
def sender_lock(app: Flask) -> Iterator[None]:
    """SQLite has no row locks: hold the instance's sender lock while sending."""
    if db.engine.dialect.name != "sqlite":
        yield
        return
    lock = store.SenderLock(app.instance_path)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT: finish the message in flight, then return normally (exit 0)."""

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_send(app: Flask, transport: Transport, *, until_idle: bool, stop: threading.Event) -> str:
    """What ``newsletter send`` does, minus the signal handling; returns the summary line."""
    from newsletter.delivery import channels

    with sender_lock(app):
        if not until_idle:
            beside = threading.Thread(
                target=_in_context, args=(app, channels.serve_forever, app, stop), daemon=True
            )
            beside.start()
            serve_forever(app, transport, stop)
            beside.join(timeout=30)
            return "stopped"
        channel_report = channels.ChannelReport()
        beside = threading.Thread(
            target=_in_context,
            args=(app, _run_channels, app, stop, channel_report),
            name="channels",
            daemon=True,
        )
        beside.start()
        sender = Sender(app, transport)
        with progress(store.count_due(db.engine, sender.lane), "sending") as step:
            report = sender.run(stop, until_idle=True, progress=step)
        beside.join()
    summary = report.summary()
    if (
        channel_report.sent
        or channel_report.retried
        or channel_report.failed
        or channel_report.dropped
    ):
        summary += f"; {channel_report.summary()}"
    if report.relay_error is not None:
        raise click.ClickException(f"{report.relay_error} ({summary})")
    return summary


def _in_context(app: Flask, func: Any, *args: Any) -> None:
    with app.app_context():
        func(*args)


def _run_channels(app: Flask, stop: threading.Event, into: Any) -> None:
    """Push and Telegram rows, beside the mail sender (``send --until-idle``)."""
    from newsletter.delivery.channels import ChannelSender

    found = ChannelSender(app).run(stop, until_idle=True)
    into.sent, into.retried, into.failed = found.sent, found.retried, found.failed
    into.dropped = found.dropped


@click.command("send")
@click.option("--until-idle", is_flag=True, help="Exit 0 once nothing is due.")
@with_appcontext
def send_command(until_idle: bool) -> None:
    """Deliver what is due from the outbox (until SIGTERM, or until idle)."""
    app = _app()
    stop = threading.Event()
    with one_line_errors(), stop_on_signals(stop):
        summary = run_send(app, RelayPool.from_config(app.config), until_idle=until_idle, stop=stop)
    click.echo(summary)


bounces_group = CommandGroup("bounces", help="Receive and apply bounce reports (DSNs).")


def _apply(app: Flask, raw: bytes, envelope_recipients: list[str]) -> list[bounces.BounceOutcome]:
    with db.engine.begin() as conn:
        return bounces.process_bounce(
            conn, raw, config=app.config, envelope_recipients=envelope_recipients
        )


@bounces_group.command("process")
@click.argument("path")
@with_appcontext
def process_command(path: str) -> None:
    """Apply the bounces in FILE (one message, or an mbox)."""
    app = _app()
    read_text_file(path)  # one-line errors for a missing or unreadable file
    with open(path, "rb") as handle:
        raw = handle.read()
    messages = bounces.split_messages(raw)
    if not messages or not any(m.strip() for m in messages):
        raise ValidationError(f"{path}: no message in it")
    applied = 0
    for message in messages:
        for outcome in _apply(app, message, []):
            click.echo(outcome.describe())
            applied += 1
    click.echo(f"{len(messages)} message(s) read, {applied} bounce(s) applied")


class BounceHandler:
    """aiosmtpd handler for the bounce listener: applies each DSN as it arrives."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        with self.app.app_context():
            try:
                outcomes = _apply(self.app, raw, list(envelope.rcpt_tos))
            except Exception:
                self.app.logger.exception("applying a bounce failed")
                return "451 4.3.0 could not record the bounce, try again later"
        for outcome in outcomes:
            self.app.logger.info(outcome.describe())
        return "250 OK"


def _serve_smtp(handler: Any, host: str, port: int, label: str) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname=host, port=port, data_size_limit=10 * 1024 * 1024)
    try:
        controller.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"{label} listening on {host}:{port}")
    stop = threading.Event()
    with stop_on_signals(stop):
        stop.wait()
    controller.stop()


@bounces_group.command("serve")
@click.option("--host", default=None, help="Default: BOUNCE_HOST.")
@click.option("--port", default=None, type=int, help="Default: BOUNCE_PORT.")
@with_appcontext
def serve_command(host: str | None, port: int | None) -> None:
    """Listen for bounces the relay forwards (SMTP) and apply them."""
    app = _app()
    _serve_smtp(
        BounceHandler(app),
        host or app.config["BOUNCE_HOST"],
        port or int(app.config["BOUNCE_PORT"]),
        "bounce listener",
    )


@click.command("mailcapture")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
@with_appcontext
def mailcapture_command(host: str, port: int) -> None:
    """Demo relay: keep every message as an .eml file in <instance>/mail/."""
    from newsletter.delivery.capture import CaptureHandler, mail_folder

    app = _app()
    _serve_smtp(CaptureHandler(mail_folder(app)), host, port, "mail capture")
