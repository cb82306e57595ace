"""Session version: a cookie stops working after a logout or a password change, even a copy of
it replayed from another machine."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.models import User
from newsletter.extensions import db
from tests.fixtures.admin import (
    EDITOR_EMAIL,
    FAST_HASHING,
    PASSWORD,
    browser,
    csrf_token,
    login,
)

NEW_PASSWORD = "Torrazzo-di-Crema-1284"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, value: str) -> int:
    """A fresh browser that only has the copied cookie."""
    other = browser(app)
    other.set_cookie("session", value)
    return int(other.get("/admin/").status_code)


def test_a_cookie_copied_before_logout_is_refused_after_it(app: Flask, editor_user: User) -> None:
    client = login(browser(app), EDITOR_EMAIL)
    stolen = _cookie(client)
    assert _replay(app, stolen) == 200  # the copy works while the session lasts
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert _replay(app, stolen) == 302  # and no longer after the logout
    # Signing in again gives a working session (with the new version).
    assert login(browser(app), EDITOR_EMAIL).get("/admin/").status_code == 200


def test_logout_ends_the_other_browsers_sessions_too(app: Flask, editor_user: User) -> None:
    office = login(browser(app), EDITOR_EMAIL)
    home = login(browser(app), EDITOR_EMAIL)
    token = csrf_token(office.get("/admin/").get_data(as_text=True))
    office.post("/admin/logout", data={"csrf_token": token})
    assert home.get("/admin/").status_code == 302


def _change_password(client: FlaskClient, current: str, new: str, again: str | None = None) -> Any:
    token = csrf_token(client.get("/admin/account").get_data(as_text=True))
    return client.post(
        "/admin/account/password",
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )


def test_password_change_ends_every_other_session_and_keeps_this_one(
    app: Flask, editor_user: User
) -> None:
    client = login(browser(app), EDITOR_EMAIL)
    other = login(browser(app), EDITOR_EMAIL)
    stolen = _cookie(client)
    response = _change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200  # the person who changed it stays in
    assert other.get("/admin/").status_code == 302
    assert _replay(app, stolen) == 302  # the cookie from before the change is dead
    login(browser(app), EDITOR_EMAIL, NEW_PASSWORD)
    db.session.expire_all()
    assert db.session.get(User, editor_user.id).session_version >= 1  # type: ignore[union-attr]


def test_password_change_needs_the_current_password_and_the_policy(
    app: Flask, editor_user: User
) -> None:
    client = login(browser(app), EDITOR_EMAIL)
    wrong = _change_password(client, "not-my-password-at-all", NEW_PASSWORD)
    assert wrong.status_code == 422
    assert "password" in wrong.get_data(as_text=True)
    assert _change_password(client, PASSWORD, "short1").status_code == 422
    assert _change_password(client, PASSWORD, NEW_PASSWORD, "something-else-1234").status_code == (
        422
    )
    assert client.get("/admin/").status_code == 200  # nothing changed, still signed in
    login(browser(app), EDITOR_EMAIL, PASSWORD)


def test_console_password_reset_ends_sessions_and_lifts_the_lock(
    app: Flask, editor_user: User
) -> None:
    client = login(browser(app), EDITOR_EMAIL)
    editor_user.failed_logins = 3
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "--email", EDITOR_EMAIL, "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    assert client.get("/admin/").status_code == 302
    login(browser(app), EDITOR_EMAIL, NEW_PASSWORD)
    unknown = app.test_cli_runner().invoke(
        args=["users", "set-password", "--email", "nobody@x.example", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert unknown.exit_code != 0
    assert "no account" in unknown.output
