"""Several relays (``SMTP_RELAYS``): spread by weight, a failing relay set aside and taken
back; per-relay counts in /metrics; passwords nowhere. Real aiosmtpd relays on loopback."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import RelayPool, parse_relays
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from tests.fixtures.delivery import Relay, ScriptedHandler, deliveries, free_tcp_port

Outbox = Callable[..., Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def send_until_idle(app: Flask, pool: RelayPool) -> Any:
    return Sender(app, pool).run(threading.Event(), until_idle=True)


def relay_counts(app: Flask) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Delivery.relay, sa.func.count())
        .where(Delivery.status == DeliveryStatus.SENT)
        .group_by(Delivery.relay)
    ).all()
    return {relay: n for relay, n in rows}


@pytest.fixture(autouse=True)
def immediate_retries(app: Flask) -> None:
    app.config["RETRY_SCHEDULE_SECONDS"] = (0.0,)


def test_one_relay_down_the_other_delivers_everything(
    app: Flask, relay_factory: Callable[..., Relay], outbox: Outbox, caplog: Any
) -> None:
    up = relay_factory()
    down_port = free_tcp_port()  # nothing listens there: connections are refused
    app.config["SMTP_RELAYS"] = (
        f"smtp://user:hunter2secret@127.0.0.1:{down_port}?weight=3,"
        f"smtp://127.0.0.1:{up.port}?weight=1"
    )
    outbox(60)
    caplog.set_level(logging.INFO)

    report = send_until_idle(app, RelayPool.from_config(app.config))

    assert report.relay_error is None
    assert report.sent == 60
    assert sorted(up.handler.by_recipient().values()) == [1] * 60
    assert {r.status for r in deliveries()} == {DeliveryStatus.SENT}
    assert {r.attempts for r in deliveries()} == {1}, "a refused connection is not an attempt"
    assert relay_counts(app) == {f"127.0.0.1:{up.port}": 60}
    assert f"relay 127.0.0.1:{down_port} set aside" in caplog.text
    assert "hunter2secret" not in caplog.text


def test_both_up_share_by_weight(
    app: Flask, relay_factory: Callable[..., Relay], outbox: Outbox
) -> None:
    heavy, light = relay_factory(), relay_factory()
    app.config.update(
        SMTP_RELAYS=f"smtp://127.0.0.1:{heavy.port}?weight=3,smtp://127.0.0.1:{light.port}",
        SEND_CONCURRENCY=2,
    )
    outbox(400)

    report = send_until_idle(app, RelayPool.from_config(app.config))

    assert report.sent == 400
    counts = relay_counts(app)
    assert sum(counts.values()) == 400
    heavy_share = counts[f"127.0.0.1:{heavy.port}"] / 400
    assert 0.6 <= heavy_share <= 0.9, counts  # 3:1 by weight, in runs of a few messages
    assert len(heavy.handler.received) + len(light.handler.received) == 400
    assert light.handler.received, "the lighter relay takes its share too"


def test_a_relay_answering_421_is_set_aside_and_taken_back_later(
    app: Flask, relay_factory: Callable[..., Relay], outbox: Outbox
) -> None:
    busy = relay_factory(handler=ScriptedHandler(data_replies=["421 4.3.2 going down"]))
    steady = relay_factory()
    app.config["SEND_CONCURRENCY"] = 1  # one connection at a time: the order is deterministic
    clock = Clock()
    pool = RelayPool(
        parse_relays(f"smtp://127.0.0.1:{busy.port},smtp://127.0.0.1:{steady.port}"),
        backoff=60.0,
        clock=clock,
    )
    _, _ids = outbox(40)

    report = send_until_idle(app, pool)

    assert report.sent == 40
    assert report.retried == 1  # the message the 421 answered, sent again
    busy_state = next(r for r in pool.relays if r.transport.port == busy.port)
    assert busy_state.down_until > clock.now, "set aside after its 421"
    assert busy.handler.received == []
    assert len(steady.handler.received) == 40

    # Its back-off over, the relay is tried again and takes its share of new mail.
    clock.now += 61
    outbox(40, prefix="later", period_key="2026-W48")
    assert send_until_idle(app, pool).sent == 40
    assert busy.handler.received, "back after its back-off"
    assert busy_state.failures == 0


def test_metrics_count_per_relay_without_passwords(
    app: Flask, relay_factory: Callable[..., Relay], outbox: Outbox
) -> None:
    one = relay_factory(
        handler=ScriptedHandler(data_replies=["554 5.7.1 refused"]), auth=("bob", "p4ssw0rd-xyz")
    )
    app.config["SMTP_RELAYS"] = f"smtp://bob:p4ssw0rd-xyz@127.0.0.1:{one.port}"
    outbox(3)

    report = send_until_idle(app, RelayPool.from_config(app.config))
    assert (report.sent, report.failed) == (2, 1)
    assert set(one.handler.logins) == {"bob"}
    body = app.test_client().get("/metrics").get_data(as_text=True)

    label = f'relay="127.0.0.1:{one.port}"'
    assert f'newsletter_relay_deliveries_total{{outcome="sent",{label}}} 2.0' in body
    assert f'newsletter_relay_deliveries_total{{outcome="failed",{label}}} 1.0' in body
    assert "p4ssw0rd" not in body, body


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ("http://h", "relay 1 (h): use smtp://"),
        ("smtp://u:secretpw@h?security=ssl", "security must be none, starttls or tls"),
        ("smtp://h,smtp://u:secretpw@h2?weight=x", "relay 2 (h2): weight must be a whole number"),
        ("smtp://h?colour=red", "unknown option colour"),
    ],
)
def test_bad_relay_urls_are_one_line_without_the_password(urls: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_relays(urls)
    assert message in caught.value.message
    assert "secretpw" not in caught.value.message


def test_relay_urls_are_parsed() -> None:
    (plain, weight_1), (secure, weight_2) = parse_relays(
        "smtp://127.0.0.1:2525, smtp://user%40x:pa%2Css@mail.example.org:587"
        "?security=starttls&weight=2"
    )
    assert (plain.host, plain.port, plain.security, plain.username, weight_1) == (
        "127.0.0.1",
        2525,
        "none",
        None,
        1,
    )
    assert (secure.username, secure.password, secure.security, weight_2) == (
        "user@x",
        "pa,ss",
        "starttls",
        2,
    )
