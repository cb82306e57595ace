"""The login form is rate limited per client address (Flask-Limiter), before any lockout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from newsletter.admin.models import User
from tests.fixtures.admin import ADMIN_EMAIL, FAST_HASHING, csrf_token


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {**FAST_HASHING, "RATELIMIT_LOGIN": "3 per minute", "ADMIN_LOCKOUT_THRESHOLD": 5}


def test_login_is_rate_limited_per_client(app: Flask, admin_user: User) -> None:
    client = app.test_client()
    statuses = [_post(client, f"wrong-{i}-password") for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert client.get("/admin/login").status_code == 200  # the form itself stays reachable


def _post(client: Any, password: str) -> int:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login", data={"email": ADMIN_EMAIL, "password": password, "csrf_token": token}
    )
    return int(response.status_code)


@pytest.fixture
def proxied_app(database_url: str, tmp_path: Path) -> Flask:
    from tests.conftest import make_app

    return make_app(
        database_url, tmp_path / "proxied", TRUSTED_PROXIES=1, RATELIMIT_LOGIN="2 per minute"
    )


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
    proxied_app: Flask, app: Flask
) -> None:
    """With TRUSTED_PROXIES=1 the limit follows X-Forwarded-For, not nginx's own address."""

    def attempt(client_ip: str) -> int:
        client = proxied_app.test_client()
        headers = {"X-Forwarded-For": client_ip}
        page = client.get("/admin/login", headers=headers).get_data(as_text=True)
        response = client.post(
            "/admin/login",
            data={"email": "x@example.org", "password": "wrong", "csrf_token": csrf_token(page)},
            headers=headers,
        )
        return int(response.status_code)

    assert [attempt("198.51.100.7") for _ in range(3)] == [401, 401, 429]
    assert attempt("203.0.113.9") == 401  # someone else is not locked out by the first
