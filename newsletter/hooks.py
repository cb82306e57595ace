"""Where domains plug into shared machinery without importing each other.

Each domain's ``init_app`` registers what it contributes: jobs for the worker's scheduler,
loops for the worker (the sender), renderers for the service e-mails it writes to the outbox,
loaders of mail rendered once for many (an alert's variants),
handlers for non-mail outbox rows, sample content and processes for ``newsletter demo``.
The owners (scheduling, delivery, ops) read the registry; nobody else needs to know who
contributed what.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, current_app

if TYPE_CHECKING:
    from newsletter.delivery.channels import Messenger
    from newsletter.delivery.models import Delivery


class PeriodLike(Protocol):
    """A run of a periodic job: ``end`` is its scheduled fire time (UTC)."""

    @property
    def key(self) -> str: ...
    @property
    def end(self) -> datetime: ...


@dataclass(frozen=True)
class CatchUp:
    """What a missed run of a periodic job means, for the worker's catch-up after downtime:
    ``due(now)`` is the latest period due, ``previous(p)`` the one before it, ``run_for(end)``
    does the job for the period ending then, and a period more than ``max_lateness()`` late
    is skipped rather than run."""

    due: Callable[[datetime], PeriodLike]
    previous: Callable[[PeriodLike], PeriodLike]
    run_for: Callable[[datetime], Any]
    max_lateness: Callable[[], timedelta]


@dataclass(frozen=True)
class ScheduledJob:
    """A job for the worker. ``trigger`` holds APScheduler trigger arguments, e.g.
    ``{"trigger": "cron", "hour": 7}`` or ``{"trigger": "interval", "minutes": 15}``, read in
    the configured time zone. ``func`` runs inside an app context. ``catch_up``: see CatchUp."""

    name: str
    func: Callable[[], Any]
    trigger: Callable[[Flask], dict[str, Any]]
    catch_up: CatchUp | None = None


@dataclass(frozen=True)
class ServiceMail:
    """A fully personalised service e-mail (confirmation, preferences link, test send)."""

    to: str
    subject: str
    text: str
    html: str
    list_headers: bool = False  # service mail carries no List-* headers


@dataclass(frozen=True)
class MailVariant:
    """A message rendered once and sent to many (an urgent alert in one language), with the
    ``mailparts`` placeholders where each recipient's own links go. The sender builds its bytes
    once and only splices in the address, the Message-ID and the personal links."""

    subject: str
    text: str
    html: str
    list_label: str  # List-Id ``<label.mail-domain>``: its own list, filtered on its own
    unsubscribe_purpose: str  # the personal link of List-Unsubscribe and of the footer
    preferences_purpose: str = "preferences"


@dataclass(frozen=True)
class VariantMail:
    """How the sender delivers rows of a kind whose ``payload[payload_key]`` names a
    MailVariant: ``load(id)`` reads it (None: it is gone, the row is dropped). With
    ``needs_alerts`` the row is dropped once its subscriber turned urgent alerts off."""

    load: Callable[[int], MailVariant | None]
    payload_key: str
    needs_alerts: bool = False


@dataclass
class Registry:
    jobs: list[ScheduledJob] = field(default_factory=list)
    service_mail: dict[str, Callable[[Delivery], ServiceMail | None]] = field(default_factory=dict)
    outbox_handlers: dict[str, Callable[[Delivery], None]] = field(default_factory=dict)
    mail_variants: dict[str, VariantMail] = field(default_factory=dict)
    messengers: dict[str, Messenger] = field(default_factory=dict)
    worker_loops: list[tuple[str, Callable[[threading.Event], None]]] = field(default_factory=list)
    personal_url: Callable[[str, int, str], str] | None = None
    demo_content: list[Callable[[Flask], None]] = field(default_factory=list)
    demo_processes: list[tuple[str, Callable[[Flask, dict[str, Any]], list[str]]]] = field(
        default_factory=list
    )


def registry(app: Flask | None = None) -> Registry:
    target = app if app is not None else current_app
    found = target.extensions.get("newsletter.registry")
    if found is None:
        found = target.extensions["newsletter.registry"] = Registry()
    return found


def register_job(app: Flask, job: ScheduledJob) -> None:
    registry(app).jobs.append(job)


def register_service_mail(
    app: Flask, kind: str, renderer: Callable[[Delivery], ServiceMail | None]
) -> None:
    """``renderer`` builds the message for a queued row of that kind; None means: drop it."""
    registry(app).service_mail[kind] = renderer


def register_mail_variant(app: Flask, kind: str, variant: VariantMail) -> None:
    """E-mail rendered once per variant by its domain (an alert per language), personalised
    per recipient by the sender; rows name their variant in the payload. A row whose payload
    has ``expires`` (ISO-8601) is dropped, not sent, once that time has passed."""
    registry(app).mail_variants[kind] = variant


def register_outbox_handler(app: Flask, kind: str, handler: Callable[[Delivery], None]) -> None:
    """For outbox rows that are not e-mail (a WebSub ping). Raise TransportError to retry."""
    registry(app).outbox_handlers[kind] = handler


def register_messenger(app: Flask, kind: str, messenger: Messenger) -> None:
    """How the channel sender delivers rows of a kind that is not e-mail (push, Telegram):
    the messenger gets the row's target and payload and answers with a ChannelResult."""
    registry(app).messengers[kind] = messenger


def register_personal_url(app: Flask, builder: Callable[[str, int, str], str]) -> None:
    """How a subscriber's personal link is built: ``builder(purpose, subscriber_id, link_key)``
    gives the absolute URL ("unsubscribe", "preferences", ...). Subscriptions provides it; the
    sender calls it for the digests' headers and footers without importing subscriptions."""
    registry(app).personal_url = builder


def register_worker_loop(app: Flask, name: str, loop: Callable[[threading.Event], None]) -> None:
    """A long-running loop of ``newsletter worker`` (the sender). It runs inside an app context
    and must return soon after ``stop`` is set (SIGTERM), finishing the message in flight."""
    registry(app).worker_loops.append((name, loop))


def register_demo_content(app: Flask, loader: Callable[[Flask], None]) -> None:
    """Sample content for ``newsletter demo``; runs after migrations, must be idempotent."""
    registry(app).demo_content.append(loader)


def register_demo_process(
    app: Flask, name: str, args: Callable[[Flask, dict[str, Any]], list[str]]
) -> None:
    """A child process of ``newsletter demo``: ``args(app, ports)`` gives its ``newsletter``
    command line; ``ports`` has ``host``, ``port`` and ``smtp_port``."""
    registry(app).demo_processes.append((name, args))
