"""Every admin page's <title> is plain text: a block mix-up once put a whole form in it."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from tests.fixtures.admin import FAST_HASHING, make_source


def test_admin_page_titles_are_plain_text(app: Flask, admin_client: FlaskClient) -> None:
    make_source()
    pages = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        and "GET" in (rule.methods or ())
        and not rule.arguments
        and rule.endpoint.startswith("admin.")
        and not rule.rule.endswith((".csv", ".json", "/html", "/login", "/logout"))
    )
    assert "/admin/sources" in pages
    for path in pages:
        response = admin_client.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        title = html.fromstring(response.get_data(as_text=True)).findtext(".//title") or ""
        assert "<" not in title, f"{path}: {title[:80]!r}"
        assert title.strip(), path


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
