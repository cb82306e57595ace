"""No cookie before a form is used, and the public forms still refuse forged requests.

Every public page is read from ``app.url_map``, so a page added later (the alerts, say) is
covered too; every public POST route must be guarded by ``newsletter.formguard``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.routing import AnyConverter, BaseConverter, IntegerConverter
from werkzeug.test import TestResponse

from newsletter import formguard
from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.feedback.models import PageRating
from newsletter.push.models import PushSubscription
from newsletter.subscriptions.links import ENDPOINTS, personal_url_for
from newsletter.subscriptions.models import Frequency, Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose
from tests.fixtures.admin import ADMIN_EMAIL, FAST_HASHING, PASSWORD
from tests.fixtures.push import PushService
from tests.fixtures.subscriptions import subscriber_by_email

EVIL = "https://evil.example"
OURS = "https://newsletter.example.org"  # BASE_URL of the tests' app
TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

# Public POST routes that take no form token, and why.
UNGUARDED = {
    "newsletter.public.views.unsubscribe": "RFC 8058 one-click: mail clients post without one",
    "newsletter.public.views.unsubscribe_alerts": "the same, for the alert mails' own link",
}
NOT_PUBLIC = ("/admin", "/api/", "/static/", "/push/static/", "/demo")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _token(client: FlaskClient, path: str, pattern: re.Pattern[str] = TOKEN) -> str:
    found = pattern.search(client.get(path).get_data(as_text=True))
    assert found, f"no form token on {path}"
    return found.group(1)


def _no_cookie(response: TestResponse, what: str) -> None:
    assert response.headers.getlist("Set-Cookie") == [], what


@pytest.fixture
def people(make_subscriber: Callable[..., Subscriber]) -> dict[str, Subscriber]:
    return {
        "active": make_subscriber("attiva@example.org"),
        "pending": make_subscriber("in-attesa@example.org", SubscriberStatus.PENDING),
    }


def _sample(converter: BaseConverter) -> Any:
    """A value the route accepts: an id, one of its fixed choices, else a comune's slug."""
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    return "crema"


def _public_get_urls(app: Flask, people: dict[str, Subscriber]) -> dict[str, str]:
    """One URL for every public GET route, with real personal links where a route needs one."""
    active, pending = people["active"], people["pending"]
    links = {  # every kind of personal link (the confirm link of someone who has not yet)
        endpoint: personal_url_for(
            purpose, pending if purpose is Purpose.CONFIRM else active, external=False
        )
        for purpose, endpoint in ENDPOINTS.items()
    }
    links["public.erase_page"] = links["public.preferences"] + "/erase"
    samples: dict[str, dict[str, Any]] = {
        "public.topic": {"slug": "energy"},
        "public.comune": {"slug": "crema"},
        "feeds.feed": {"name": "all", "fmt": "rss"},
        "feeds.comune_feed": {"slug": "crema", "fmt": "atom"},
    }
    adapter = app.url_map.bind("localhost")
    urls: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith(NOT_PUBLIC):
            continue
        if rule.endpoint in links:
            urls[rule.endpoint] = links[rule.endpoint]
            continue
        values = samples.get(rule.endpoint) or {
            name: _sample(rule._converters[name]) for name in rule._converters
        }
        # An endpoint with several rules (the Italian and English alert feeds) tells them
        # apart by their defaults: each rule is visited.
        key = rule.endpoint if not rule.defaults else f"{rule.endpoint} {rule.rule}"
        urls[key] = adapter.build(rule.endpoint, {**(rule.defaults or {}), **values})
    return urls


def test_no_public_page_sets_a_cookie(
    app: Flask, client: FlaskClient, people: dict[str, Subscriber]
) -> None:
    urls = _public_get_urls(app, people)
    must = {
        "public.home",
        "public.subscribe_form",
        "public.topic",
        "public.comuni",
        "public.comune",
        "public.privacy",
        "public.accessibility",
        "public.legal",
        "public.confirm_page",
        "public.preferences",
        "public.erase_page",
        "public.unsubscribe_page",
        "digests.archive",
        "feeds.feed",
        "feeds.comune_feed",
    }
    assert must <= set(urls)
    if "/avvisi" in {r.rule for r in app.url_map.iter_rules()}:
        assert any(url.startswith("/avvisi") for url in urls.values())
    shown = 0
    for endpoint, url in sorted(urls.items()):
        response = client.get(url, headers={"Accept-Language": "it"})
        assert response.status_code < 500, url
        _no_cookie(response, f"{endpoint}: GET {url}")
        shown += response.status_code == 200
    assert shown >= len(must)
    # The forms on them carry a token all the same (no session behind it).
    preferences = client.get(urls["public.preferences"]).get_data(as_text=True)
    assert TOKEN.search(preferences)
    assert META.search(client.get("/topics/energy").get_data(as_text=True))
    # The sign-in page of the admin area too: the session starts when someone signs in.
    login_page = client.get("/admin/login")
    assert login_page.status_code == 200
    assert TOKEN.search(login_page.get_data(as_text=True))
    _no_cookie(login_page, "GET /admin/login")
    _no_cookie(client.get("/admin/no-such-page"), "GET /admin/no-such-page")
    assert client.get_cookie("session") is None


def test_every_public_post_route_is_guarded_by_formguard(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        changes = {"POST", "PUT", "PATCH", "DELETE"} & set(rule.methods or ())
        if not changes:
            continue
        if rule.rule.startswith(NOT_PUBLIC) and rule.endpoint != "admin.login":
            continue
        view = app.view_functions[rule.endpoint]
        name = f"{view.__module__}.{view.__name__}"
        assert name in formguard.PROTECTED or name in UNGUARDED, f"{rule.rule} is not guarded"


def test_the_language_switch_is_the_only_public_cookie(client: FlaskClient) -> None:
    # A link naming the language the page has anyway stores nothing ...
    _no_cookie(client.get("/?lang=it", headers={"Accept-Language": "it"}), "?lang=it")
    # ... choosing another one with the switch does (that is what the privacy notice says).
    chosen = client.get("/?lang=en", headers={"Accept-Language": "it"})
    assert chosen.headers.getlist("Set-Cookie")
    assert 'lang="en"' in client.get("/", headers={"Accept-Language": "it"}).get_data(as_text=True)


_ADDRESSES = itertools.count(1)


def _post_subscribe(client: FlaskClient, token: str | None, **headers: str) -> TestResponse:
    """From a new client address each time: the subscribe form's rate limit is not under test."""
    data: dict[str, Any] = {
        "email": "nuova@example.org",
        "topics": ["energy", "mobility"],
        "frequency": "daily",
        "locale": "it",
        "consent": "1",
    }
    if token is not None:
        data["csrf_token"] = token
    address = f"198.51.100.{next(_ADDRESSES) % 250 + 1}"
    return client.post(
        "/subscribe", data=data, headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def _forged_variants(client: FlaskClient, purpose: str, page: str) -> dict[str, tuple[Any, ...]]:
    """(token, headers) of requests that must be refused, by what is wrong with them."""
    good = _token(client, page)
    with client.application.test_request_context():
        for_other_form = formguard.token("rating" if purpose != "rating" else "subscribe")
    stranger = URLSafeTimedSerializer("a key that is not ours", salt=formguard.SALT)
    return {
        "no token": (None, {}),
        "token of another form": (for_other_form, {}),
        "token signed with another key": (stranger.dumps(purpose), {}),
        "garbage token": ("forged", {}),
        "Origin of another site": (good, {"Origin": EVIL}),
        "Origin null": (good, {"Origin": "null"}),
        "Sec-Fetch-Site cross-site": (good, {"Sec-Fetch-Site": "cross-site"}),
        "Sec-Fetch-Site same-site": (good, {"Sec-Fetch-Site": "same-site", "Origin": OURS}),
        "our Origin but cross-site fetch": (good, {"Sec-Fetch-Site": "cross-site", "Origin": OURS}),
        "Referer of another site": (good, {"Referer": EVIL + "/page"}),
        "http instead of https": (good, {"Origin": "http://newsletter.example.org"}),
    }


def test_subscribe_refuses_forged_requests_and_accepts_our_own(client: FlaskClient) -> None:
    for what, (token, headers) in _forged_variants(client, "subscribe", "/subscribe").items():
        response = _post_subscribe(client, token, **headers)
        assert response.status_code == 400, what
        _no_cookie(response, what)
        assert subscriber_by_email("nuova@example.org") is None, what
    # A browser of ours: same origin by every header, whichever host name it used.
    ours = {"Origin": OURS, "Sec-Fetch-Site": "same-origin", "Referer": OURS + "/subscribe"}
    response = _post_subscribe(client, _token(client, "/subscribe"), **ours)
    assert response.status_code == 200
    _no_cookie(response, "a subscription sent from our page")
    assert subscriber_by_email("nuova@example.org") is not None
    by_host = _post_subscribe(
        client, _token(client, "/"), Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"}
    )
    assert by_host.status_code == 200  # the host the request reached is ours as well
    # The browser's Sec-Fetch-Site decides even when a proxy changed what Origin looks like.
    behind_proxy = _post_subscribe(
        client,
        _token(client, "/"),
        Origin="http://newsletter.example.org",
        **{"Sec-Fetch-Site": "same-origin"},
    )
    assert behind_proxy.status_code == 200


def test_a_refused_subscription_comes_back_as_typed(client: FlaskClient) -> None:
    token = _token(client, "/subscribe")
    with time_machine.travel(utcnow() + timedelta(days=2)):
        response = _post_subscribe(client, token, Origin=OURS)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Il modulo è rimasto aperto a lungo" in page
        assert 'value="nuova@example.org"' in page
        for slug in ("energy", "mobility"):
            assert re.search(rf'value="{slug}" id="topic-{slug}" checked', page), slug
        assert re.search(r'id="frequency-daily" checked', page)
        assert re.search(r'id="consent" required aria-required="true" checked', page)
        fresh = TOKEN.search(page)
        assert fresh
        assert fresh.group(1) != token
        assert subscriber_by_email("nuova@example.org") is None
        again = _post_subscribe(client, fresh.group(1), Origin=OURS)
        assert again.status_code == 200
    assert subscriber_by_email("nuova@example.org") is not None
    # From another site nothing is filled in: the plain error page.
    forged = _post_subscribe(client, token, Origin=EVIL)
    assert forged.status_code == 400
    assert "nuova@example.org" not in forged.get_data(as_text=True)


def test_tokens_signed_before_a_key_rotation_still_work(app: Flask, client: FlaskClient) -> None:
    token = _token(client, "/subscribe")
    app.config["SECRET_KEY_FALLBACKS"] = [app.config["SECRET_KEY"]]
    app.config["SECRET_KEY"] = "the-new-key-of-the-tests"
    assert _post_subscribe(client, token, Origin=OURS).status_code == 200
    app.config["SECRET_KEY_FALLBACKS"] = []  # a leaked key is dropped: what it signed is refused
    assert _post_subscribe(client, token, Origin=OURS).status_code == 400


def test_the_rating_form_is_guarded(client: FlaskClient) -> None:
    for what, (token, headers) in _forged_variants(client, "rating", "/archive").items():
        data = {"page": "/archive", "rating": "5"}
        if token is not None:
            data["csrf_token"] = token
        response = client.post("/feedback", data=data, headers=headers)
        assert response.status_code == 400, what
        _no_cookie(response, what)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PageRating)) == 0
    good = {"page": "/archive", "rating": "5", "csrf_token": _token(client, "/archive")}
    response = client.post("/feedback", data=good, headers={"Origin": OURS})
    assert response.status_code == 303
    _no_cookie(response, "a rating")


def test_the_preference_centre_is_guarded_and_keeps_what_was_ticked(
    client: FlaskClient, people: dict[str, Subscriber]
) -> None:
    active = people["active"]
    url = personal_url_for(Purpose.PREFERENCES, active, external=False)
    wanted = {"topics": ["governance"], "frequency": "immediate", "locale": "it"}
    for what, (token, headers) in _forged_variants(client, "preferences", url).items():
        data = dict(wanted) | ({"csrf_token": token} if token is not None else {})
        response = client.post(url, data=data, headers=headers)
        assert response.status_code == 400, what
        _no_cookie(response, what)
    found = subscriber_by_email(active.email)
    assert found is not None
    assert found.frequency is Frequency.WEEKLY
    token = _token(client, url)
    with time_machine.travel(utcnow() + timedelta(days=2)):
        stale = client.post(url, data=wanted | {"csrf_token": token})
    assert stale.status_code == 400
    page = stale.get_data(as_text=True)
    assert "Il modulo è rimasto aperto a lungo" in page
    assert 'id="p-frequency-immediate" checked' in page
    assert 'id="p-topic-governance" checked' in page
    saved = client.post(
        url, data=wanted | {"csrf_token": _token(client, url)}, headers={"Origin": OURS}
    )
    assert saved.status_code == 303
    _no_cookie(saved, "preferences saved")
    found = subscriber_by_email(active.email)
    assert found is not None
    assert found.frequency is Frequency.IMMEDIATE


def test_confirm_and_erase_buttons_are_guarded(
    client: FlaskClient, people: dict[str, Subscriber]
) -> None:
    pending, active = people["pending"], people["active"]
    confirm = personal_url_for(Purpose.CONFIRM, pending, external=False)
    erase = personal_url_for(Purpose.PREFERENCES, active, external=False) + "/erase"
    for url in (confirm, erase):
        assert client.post(url).status_code == 400
        assert (
            client.post(
                url, headers={"Origin": EVIL}, data={"csrf_token": _token(client, url)}
            ).status_code
            == 400
        )
    assert subscriber_by_email(pending.email).status is SubscriberStatus.PENDING  # type: ignore[union-attr]
    assert subscriber_by_email(active.email) is not None
    done = client.post(
        confirm, data={"csrf_token": _token(client, confirm)}, headers={"Origin": OURS}
    )
    assert done.status_code == 200
    _no_cookie(done, "confirmed")
    assert subscriber_by_email(pending.email).status is SubscriberStatus.ACTIVE  # type: ignore[union-attr]
    gone = client.post(erase, data={"csrf_token": _token(client, erase)}, headers={"Origin": OURS})
    assert gone.status_code == 200
    _no_cookie(gone, "erased")
    assert subscriber_by_email(active.email) is None


def test_the_push_control_is_guarded(client: FlaskClient, push_service: PushService) -> None:
    browser = push_service.browser()
    subscription = browser.subscription()
    body = {"subscription": subscription, "topics": ["mobility"]}
    token = _token(client, "/topics/mobility", META)
    forged = [
        {},
        {"X-CSRFToken": "forged"},
        {"X-CSRFToken": token, "Origin": EVIL},
        {"X-CSRFToken": token, "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in forged:
        response = client.post("/push/subscriptions", json=body, headers=headers)
        assert response.status_code == 400, headers
        assert "CSRF" in response.get_json()["error"], headers
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PushSubscription)) == 0
    ours = {"X-CSRFToken": token, "Origin": OURS, "Sec-Fetch-Site": "same-origin"}
    created = client.post("/push/subscriptions", json=body, headers=ours)
    assert created.status_code == 201
    _no_cookie(created, "push subscription")
    stop = {"endpoint": browser.endpoint, "auth": subscription["keys"]["auth"]}
    refused = client.delete(
        "/push/subscriptions", json=stop, headers={"X-CSRFToken": token, "Origin": EVIL}
    )
    assert refused.status_code == 400
    assert client.delete("/push/subscriptions", json=stop, headers=ours).status_code == 204


def test_admin_sign_in_needs_no_cookie_until_it_succeeds(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    make_user(ADMIN_EMAIL, "admin")
    credentials = {"email": ADMIN_EMAIL, "password": PASSWORD}
    token = _token(client, "/admin/login")
    cross = client.post(
        "/admin/login", data=credentials | {"csrf_token": token}, headers={"Origin": EVIL}
    )
    assert cross.status_code == 400  # login CSRF: another site cannot sign a browser in
    _no_cookie(cross, "cross-site sign-in")
    wrong = client.post(
        "/admin/login", data={**credentials, "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    _no_cookie(wrong, "a wrong password")
    with time_machine.travel(utcnow() + timedelta(days=2)):
        stale = client.post("/admin/login", data=credentials | {"csrf_token": token})
    assert stale.status_code == 400
    assert f'value="{ADMIN_EMAIL}"' in stale.get_data(as_text=True)  # the address is kept
    _no_cookie(stale, "a stale sign-in form")
    signed_in = client.post(
        "/admin/login", data=credentials | {"csrf_token": token}, headers={"Origin": OURS}
    )
    assert signed_in.status_code == 302
    assert client.get_cookie("session") is not None
    # From here on the admin area's forms use the session's token (Flask-WTF), as before.
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert TOKEN.search(dashboard)
