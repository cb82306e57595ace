"""Accounts: argon2id login, lockout, session hygiene, roles, rate limit, audit of sign-ins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.auth import SESSION_USER_KEY
from newsletter.admin.models import AuditEntry, User, UserRole
from newsletter.db import utcnow
from newsletter.extensions import db
from tests.conftest import make_app
from tests.fixtures.admin import EDITOR_EMAIL, FAST_HASHING, PASSWORD, csrf_token, login


def _post_login(client: FlaskClient, email: str, password: str) -> Any:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


def _admin_rules(app: Flask, role: UserRole) -> list[str]:
    """GET pages of the admin blueprint whose view requires ``role`` (new pages included)."""
    rules = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "required_role", None) == role and "GET" in (rule.methods or ()):
            url = rule.rule.replace("<int:id>", "1").replace("<fmt>", "csv")
            rules.append(url + EXAMPLE_QUERIES.get(url, ""))
    return rules


# Pages that show something only for a request: a valid one, so "reachable" means 200.
EXAMPLE_QUERIES = {"/admin/digests/preview/html": "?frequency=weekly&topics=welfare&lang=it"}


def test_password_is_stored_as_argon2id(editor_user: User) -> None:
    assert editor_user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in editor_user.password_hash


def test_login_and_logout(app: Flask, editor_user: User) -> None:
    client = app.test_client()
    assert client.get("/admin/").status_code == 302
    response = _post_login(client, EDITOR_EMAIL.upper(), PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert db.session.get(User, editor_user.id).last_login_at is not None  # type: ignore[union-attr]
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    assert client.get("/admin/logout").status_code == 405  # no logout by a mere link
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    # The fixture's account creation is audited too (by the operation, actor "tests").
    assert actions == ["user.create", "user.login", "user.logout"]


def test_wrong_password_and_unknown_address_get_the_same_answer(
    app: Flask, editor_user: User
) -> None:
    client = app.test_client()
    wrong = _post_login(client, EDITOR_EMAIL, "not-the-password-at-all")
    unknown = _post_login(client, "nobody@consorzio.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "E-mail o password non accettati" in wrong.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert SESSION_USER_KEY not in sess


def test_lockout_after_repeated_failures_and_unlock_after_the_time(
    app: Flask, editor_user: User
) -> None:
    threshold = app.config["ADMIN_LOCKOUT_THRESHOLD"]
    client = app.test_client()
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for _ in range(threshold):
            assert _post_login(client, EDITOR_EMAIL, "wrong-password-123").status_code == 401
        locked = db.session.get(User, editor_user.id)
        db.session.refresh(locked)
        assert locked is not None
        assert locked.locked_until is not None
        # Even the right password is refused while locked.
        assert _post_login(client, EDITOR_EMAIL, PASSWORD).status_code == 401
    later = start + timedelta(seconds=app.config["ADMIN_LOCKOUT_SECONDS"] - 5)
    with time_machine.travel(later, tick=False):
        assert _post_login(client, EDITOR_EMAIL, PASSWORD).status_code == 401
    after = start + timedelta(seconds=app.config["ADMIN_LOCKOUT_SECONDS"] + 5)
    with time_machine.travel(after, tick=False):
        assert _post_login(client, EDITOR_EMAIL, PASSWORD).status_code == 302
    db.session.expire_all()
    user = db.session.get(User, editor_user.id)
    assert user is not None
    assert user.locked_until is None
    assert user.failed_logins == 0


def test_a_success_resets_the_failure_count(app: Flask, editor_user: User) -> None:
    client = app.test_client()
    for _ in range(app.config["ADMIN_LOCKOUT_THRESHOLD"] - 1):
        _post_login(client, EDITOR_EMAIL, "wrong-password-123")
    assert _post_login(client, EDITOR_EMAIL, PASSWORD).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, editor_user.id).failed_logins == 0  # type: ignore[union-attr]


def test_hash_is_upgraded_when_the_parameters_change(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = make_user(EDITOR_EMAIL)
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    db.session.commit()
    login(app.test_client(), EDITOR_EMAIL)
    db.session.expire_all()
    upgraded = db.session.get(User, user.id)
    assert upgraded is not None
    assert "m=8192,t=1,p=1" in upgraded.password_hash  # FAST_HASHING, this module's setting
    assert upgraded.password_hash.startswith("$argon2id$")


def test_login_starts_a_fresh_session(app: Flask, editor_user: User) -> None:
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
        sess["lang"] = "en"
    login(client, EDITOR_EMAIL)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["lang"] == "en"
        assert sess[SESSION_USER_KEY] == editor_user.id


def test_session_cookie_flags(app: Flask, editor_user: User) -> None:
    client = app.test_client()
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login", data={"email": EDITOR_EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_cookies_are_secure(database_url: str, tmp_path: Any) -> None:
    prod = make_app(database_url, tmp_path / "prod", ENV_NAME="production", SECRET_KEY="x" * 40)
    assert prod.config["SESSION_COOKIE_SECURE"] is True


def test_next_only_leads_inside_the_admin_area(app: Flask, editor_user: User) -> None:
    client = app.test_client()
    assert (
        client.get("/admin/articles?q=bus")
        .headers["Location"]
        .startswith("/admin/login?next=/admin/articles")
    )
    for target, expected in (
        ("/admin/sources", "/admin/sources"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/admin", "/admin/"),
    ):
        client = app.test_client()
        page = client.get("/admin/login", query_string={"next": target}).get_data(as_text=True)
        response = client.post(
            "/admin/login",
            data={
                "email": EDITOR_EMAIL,
                "password": PASSWORD,
                "csrf_token": csrf_token(page),
                "next": target,
            },
        )
        assert response.headers["Location"] == expected


def test_editor_gets_403_on_every_admin_only_page(app: Flask, editor_client: FlaskClient) -> None:
    admin_only = _admin_rules(app, UserRole.ADMIN)
    assert {"/admin/subscribers", "/admin/users", "/admin/audit"} <= set(admin_only)
    for url in admin_only:
        assert editor_client.get(url).status_code == 403, url
    for url in _admin_rules(app, UserRole.EDITOR):
        if "/1" not in url:
            assert editor_client.get(url).status_code == 200, url


def test_admin_reaches_admin_pages(app: Flask, admin_client: FlaskClient) -> None:
    for url in _admin_rules(app, UserRole.ADMIN):
        if "/1" not in url:
            assert admin_client.get(url).status_code == 200, url


def test_strangers_are_sent_to_the_login_page(app: Flask) -> None:
    client = app.test_client()
    for role in UserRole:
        for url in _admin_rules(app, role):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/admin/login")


def test_deactivated_account_loses_its_session(app: Flask, editor_user: User) -> None:
    client = login(app.test_client(), EDITOR_EMAIL)
    editor_user.active = False
    db.session.commit()
    assert client.get("/admin/").status_code == 302
    assert _post_login(client, EDITOR_EMAIL, PASSWORD).status_code == 401


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
