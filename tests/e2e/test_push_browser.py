"""The "Ricevi le notifiche" control in Chromium: shown only with JavaScript and Web Push,
permission asked only after a click, a well-formed subscription sent to the server.

How far it goes: headless Chromium here cannot reach a real push service (no network), so the
browser's own ``PushManager.subscribe`` is replaced, in the page, by one that returns the
subscription of the local push service of the tests (its keys are real P-256 keys). Everything
of ours runs as in production: the service worker registers, the page fetches ``/push/key``,
posts with the CSRF header, and the server stores and later notifies that subscription.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from playwright.sync_api import expect

from newsletter.extensions import db
from newsletter.push.models import PushSubscription
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.push import PushService

pytestmark = pytest.mark.browser

INSTRUMENT = """
window.__asks = 0;
window.__subscribeCalls = [];
Notification.requestPermission = async () => { window.__asks += 1; return "granted"; };
const fake = %s;
let current = null;
PushManager.prototype.subscribe = async function (options) {
  window.__subscribeCalls.push({ userVisibleOnly: options.userVisibleOnly,
                                 keyLength: new Uint8Array(options.applicationServerKey).length });
  current = { endpoint: fake.endpoint, toJSON: () => fake,
              unsubscribe: async () => { current = null; return true; } };
  return current;
};
PushManager.prototype.getSubscription = async function () { return current; };
"""


def test_the_control_subscribes_after_a_click(
    app: Flask,
    runner: FlaskCliRunner,
    page: Any,
    live_server: LiveServer,
    push_service: PushService,
) -> None:
    assert runner.invoke(args=["push", "keys"]).exit_code == 0
    browser = push_service.browser()
    page.add_init_script(INSTRUMENT % json.dumps(browser.subscription()))
    page.goto(live_server.url + "/topics/mobility")
    control = page.locator("#push-control")
    control.wait_for(state="visible")
    assert page.evaluate("window.__asks") == 0  # nothing asked on load
    expect(page.locator("#push-topic-mobility")).to_be_checked()  # the topic page pre-sets it
    page.locator("label[for=push-topic-energy]").click()
    assert_accessible(page)
    control.get_by_role("button", name="Ricevi le notifiche").click()
    page.get_by_text("Le notifiche sono attive su questo browser.").wait_for()
    assert page.evaluate("window.__asks") == 1
    assert page.evaluate("window.__subscribeCalls") == [{"userVisibleOnly": True, "keyLength": 65}]
    db.session.expire_all()
    stored = db.session.scalars(sa.select(PushSubscription)).all()
    assert [(s.endpoint, s.topics, s.locale) for s in stored] == [
        (browser.endpoint, ["energy", "mobility"], "it")
    ]
    registered = page.evaluate(
        "navigator.serviceWorker.getRegistration('/')"
        ".then(r => r && r.active && r.active.scriptURL)"
    )
    assert registered == live_server.url + "/sw.js"
    assert page.context.cookies() == []  # the page's token needs no session

    stop = control.get_by_role("button", name="Disattiva le notifiche")
    stop.click()
    page.get_by_text("Le notifiche non sono attive su questo browser.").wait_for()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PushSubscription)) == 0


def test_without_javascript_the_control_stays_hidden(
    chromium: Any, live_server: LiveServer
) -> None:
    context = chromium.new_context(java_script_enabled=False, locale="it-IT")
    try:
        page = context.new_page()
        page.goto(live_server.url + "/")
        expect(page.locator("#push-control")).to_have_count(1)
        assert not page.locator("#push-control").is_visible()
        assert page.locator("form").first.is_visible()  # the subscribe form works as before
    finally:
        context.close()


def test_manifest_and_service_worker(live_server: LiveServer, page: Any) -> None:
    answer = page.request.get(live_server.url + "/manifest.webmanifest")
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = answer.json()
    assert manifest["lang"] == "it"
    assert manifest["name"] == "Newsletter dell'Area Omogenea Cremasca"
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert (
            page.request.get(live_server.url + icon["src"]).headers["content-type"] == "image/png"
        )
    worker = page.request.get(live_server.url + "/sw.js")
    assert worker.headers["service-worker-allowed"] == "/"
    assert "showNotification" in worker.text()


def test_on_a_comune_page_the_control_offers_that_comunes_news(
    app: Flask,
    runner: FlaskCliRunner,
    page: Any,
    live_server: LiveServer,
    push_service: PushService,
) -> None:
    assert runner.invoke(args=["push", "keys"]).exit_code == 0
    browser = push_service.browser()
    page.add_init_script(INSTRUMENT % json.dumps(browser.subscription()))
    page.goto(live_server.url + "/comuni/offanengo")
    page.locator("#push-control").wait_for(state="visible")
    assert page.locator("#push-municipality").input_value() == "Offanengo"
    expect(page.locator("#push-local-news")).to_be_checked()
    expect(page.locator("#push-alerts")).to_be_checked()  # that comune's urgent alerts too
    assert_accessible(page)
    page.locator("#push-control").get_by_role("button", name="Ricevi le notifiche").click()
    page.get_by_text("Le notifiche sono attive su questo browser.").wait_for()
    db.session.expire_all()
    stored = db.session.scalar(sa.select(PushSubscription))
    assert stored is not None
    assert stored.local_news is True
    assert stored.alerts is True
    assert stored.topics == []
    assert stored.municipality_id is not None


def test_ticking_urgent_alerts_stores_them_for_the_chosen_comune(
    app: Flask,
    runner: FlaskCliRunner,
    page: Any,
    live_server: LiveServer,
    push_service: PushService,
) -> None:
    assert runner.invoke(args=["push", "keys"]).exit_code == 0
    browser = push_service.browser()
    page.add_init_script(INSTRUMENT % json.dumps(browser.subscription()))
    page.goto(live_server.url + "/")
    control = page.locator("#push-control")
    control.wait_for(state="visible")
    alerts = control.get_by_label("Avvisi urgenti per il mio comune")
    expect(alerts).not_to_be_checked()  # the home page names no comune: nothing pre-set
    page.locator("label[for=push-alerts]").click()  # the kit's label covers the box
    expect(alerts).to_be_checked()
    button = control.get_by_role("button", name="Ricevi le notifiche")
    button.click()  # no comune yet: said on the page, nothing asked or sent
    page.get_by_text("Gli avvisi urgenti riguardano un comune: scegli il tuo.").wait_for()
    assert page.evaluate("window.__asks") == 0
    page.locator("#push-municipality").select_option("Offanengo")
    assert_accessible(page)
    button.click()
    page.get_by_text("Le notifiche sono attive su questo browser.").wait_for()
    db.session.expire_all()
    stored = db.session.scalar(sa.select(PushSubscription))
    assert stored is not None
    assert (stored.alerts, stored.topics, stored.local_news) == (True, [], False)
    assert stored.municipality_id is not None

    page.locator("label[for=push-alerts]").click()  # taken back: the subscription changes
    expect(alerts).not_to_be_checked()
    page.locator("label[for=push-topic-welfare]").click()
    # The status line already says "attive": wait for the service's answer to the change.
    with page.expect_response(
        lambda r: r.url.endswith("/push/subscriptions") and r.request.method == "POST"
    ):
        button.click()
    page.wait_for_function("window.__asks === 2")
    db.session.expire_all()
    stored = db.session.scalar(sa.select(PushSubscription))
    assert stored is not None
    assert (stored.alerts, stored.topics) == (False, ["welfare"])
