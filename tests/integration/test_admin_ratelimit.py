"""The login form is rate limited per client address (Flask-Limiter), before any lockout."""

from __future__ import annotations

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
