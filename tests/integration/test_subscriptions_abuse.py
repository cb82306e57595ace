"""Subscription bombing and rate limiting under realistic conditions: concurrent submissions of
one address on PostgreSQL, and the per-IP limit kept in Redis for several web processes."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from flask import Flask

from newsletter.delivery.models import DeliveryKind
from newsletter.subscriptions import service
from newsletter.subscriptions.models import Frequency
from tests.fixtures.subscriptions import outbox, post_subscribe, subscriber_by_email

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.mark.postgres
def test_concurrent_submissions_of_one_new_address_make_one_confirmation(app: Flask) -> None:
    request = service.SubscribeRequest("rush@example.org", ("energy",), Frequency.DAILY, "it")
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def submit() -> None:
        with app.app_context():
            try:
                start.wait()
                for _ in range(5):
                    service.subscribe(request)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert subscriber_by_email("rush@example.org") is not None
    assert len(outbox(DeliveryKind.CONFIRM)) == 1


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_SUBSCRIBE": "2 per minute",
    }


def test_rate_limit_is_shared_through_redis(app: Flask, database_url: str, tmp_path: Any) -> None:
    if not _redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    from tests.conftest import make_app

    # A second web process: its own app and limiter, the same Redis storage and prefix.
    # Redis outlives the test: a fresh address (documentation range) keeps runs independent.
    ip = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    first = app.test_client()
    assert post_subscribe(first, "r1@example.org", ip=ip).status_code == 200
    assert post_subscribe(first, "r2@example.org", ip=ip).status_code == 200
    other = make_app(
        database_url,
        tmp_path / "other",
        **{key: app.config[key] for key in ("RATELIMIT_STORAGE_URI", "RATELIMIT_SUBSCRIBE")},
    )
    with other.app_context():
        blocked = post_subscribe(other.test_client(), "r3@example.org", ip=ip)
    assert blocked.status_code == 429
