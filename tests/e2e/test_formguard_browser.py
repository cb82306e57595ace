"""No cookie before a form is used, in Chromium: the cookie jar stays empty while a person reads
the public pages, subscribes and rates a page; a form on another site that posts to ours with a
genuine token is refused, because the browser itself says where the request comes from."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from newsletter.extensions import db
from newsletter.feedback.models import PageRating
from newsletter.subscriptions.links import personal_url_for
from newsletter.subscriptions.models import Subscriber
from newsletter.subscriptions.tokens import Purpose
from tests.fixtures.browser import LiveServer
from tests.fixtures.subscriptions import subscriber_by_email

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/subscribe",
    "/topics/energy",
    "/comuni",
    "/comuni/crema",
    "/archive",
    "/accessibility",
    "/legal",
    "/privacy",
    "/admin/login",
]


def test_reading_the_pages_sets_no_cookie(
    page: Any, live_server: LiveServer, make_subscriber: Callable[..., Subscriber]
) -> None:
    person = make_subscriber("lettrice@example.org")
    preferences = personal_url_for(Purpose.PREFERENCES, person, external=False)
    for path in [*PAGES, preferences]:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "set-cookie" not in response.headers, path
        expect(page.locator("h1"), path).to_have_count(1)
    assert page.context.cookies() == []


def test_subscribing_and_rating_set_no_cookie(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/topics/energy")
    feedback = page.locator("[data-element=feedback]")
    feedback.locator("label[data-element=feedback-rate-5]").click()
    feedback.get_by_role("button", name="Invia la valutazione").click()
    page.wait_for_url("**/topics/energy?feedback=thanks#feedback")
    count = db.session.scalar(
        sa.select(PageRating.count).where(
            PageRating.page == "/topics/energy", PageRating.rating == 5
        )
    )
    assert count == 1

    page.goto(live_server.url + "/")
    page.locator("#email").fill("dal-browser@example.org")
    page.locator('input[name="topics"][value="welfare"]').check()
    page.locator("#consent").check()
    page.locator("form.subscribe-form").get_by_role("button", name="Iscriviti").click()
    expect(page.locator("h1")).to_have_text("Controlla la tua casella di posta")
    assert subscriber_by_email("dal-browser@example.org") is not None
    assert page.context.cookies() == []


class _OtherSite:
    """A page on another origin (``localhost`` against the app's ``127.0.0.1``) whose form posts
    to our subscribe route with a genuine token it fetched: what a forger can do at most."""

    def __init__(self, target: str, token: str) -> None:
        self.html = f"""<!doctype html><html lang="en"><title>Win a prize</title>
<form method="post" action="{target}/subscribe">
<input name="csrf_token" value="{token}"><input name="email" value="vittima@example.org">
<input name="topics" value="welfare"><input name="consent" value="1">
<button type="submit">Win</button></form></html>"""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return Response(self.html, mimetype="text/html")(environ, start_response)


@pytest.fixture
def other_site(live_server: LiveServer, page: Any) -> Iterator[str]:
    body = page.request.get(live_server.url + "/subscribe").text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert found
    server = make_server("127.0.0.1", 0, _OtherSite(live_server.url, found.group(1)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_form_on_another_site_is_refused(
    page: Any, live_server: LiveServer, other_site: str, app: Flask
) -> None:
    page.goto(other_site)
    with page.expect_response(lambda r: r.url.endswith("/subscribe")) as answer:
        page.get_by_role("button", name="Win").click()
    assert answer.value.status == 400
    expect(page.locator("h1")).to_have_text("Non è stato possibile completare la richiesta")
    assert subscriber_by_email("vittima@example.org") is None
    assert page.context.cookies() == []
