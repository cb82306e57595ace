"""The comuni page model: the vendored Bootstrap Italia, nothing from a CDN, the design-comuni
data-element hooks, the accessibility statement and privacy notice, and anonymous page feedback."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.feedback import service as feedback
from newsletter.feedback.models import PageRating
from tests.fixtures.admin import FAST_HASHING
from tests.fixtures.digests import add_article

VENDOR = Path(__file__).parents[2] / "newsletter" / "static" / "vendor" / "bootstrap-italia"
PUBLIC_PAGES = [
    "/",
    "/subscribe",
    "/topics/energy",
    "/archive",
    "/privacy",
    "/accessibility",
    "/legal",
    "/comuni",
    "/comuni/crema",
    "/avvisi",
]
ADMIN_PAGES = ["/admin/", "/admin/articles", "/admin/subscribers", "/admin/digests", "/admin/audit"]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _tree(client: FlaskClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return lxml.html.fromstring(response.get_data(as_text=True))


def test_vendored_kit_matches_its_version_and_checksums() -> None:
    version = (VENDOR / "VERSION").read_text().strip()
    assert re.fullmatch(r"2\.\d+\.\d+", version)
    css = (VENDOR / "css" / "bootstrap-italia.min.css").read_text()
    declared = re.search(r"--bootstrap-italia-version:\s*'([^']+)'", css)
    assert declared is not None
    assert declared.group(1) == version
    listed = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.removeprefix("./")] = digest
    present = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name not in ("VERSION", "SHA256SUMS")
    }
    assert set(listed) == present  # nothing copied without a checksum, nothing missing
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    # Fonts the stylesheet declares are all vendored.
    ours = (Path(__file__).parents[2] / "newsletter" / "static" / "style.css").read_text()
    for url in re.findall(r'url\("(vendor/bootstrap-italia/[^"]+)"\)', ours):
        assert (VENDOR.parent.parent / url).is_file(), url


def _external_references(tree: Any, own: str) -> list[str]:
    refs = []
    for element, attribute in (
        ("//link", "href"),
        ("//script", "src"),
        ("//img", "src"),
        ("//iframe", "src"),
        ("//*[local-name()='use']", "href"),
        ("//source", "src"),
    ):
        for node in tree.xpath(element):
            value = node.get(attribute)
            if value and urlsplit(value).netloc not in ("", own):
                refs.append(value)
    return refs


def test_every_page_uses_the_vendored_kit_and_no_cdn(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    own = urlsplit(app.config["BASE_URL"]).netloc  # feed links are absolute, to ourselves
    for browser, paths in ((client, PUBLIC_PAGES), (admin_client, ADMIN_PAGES)):
        for path in paths:
            tree = _tree(browser, path)
            sheets = [link.get("href") for link in tree.xpath("//link[@rel='stylesheet']")]
            assert sheets[0] == "/static/vendor/bootstrap-italia/css/bootstrap-italia.min.css", path
            assert _external_references(tree, own) == [], path
            # No JavaScript but the push channel's own progressive enhancement (the pages work
            # without it; the browser tests switch JavaScript off).
            scripts = {s.get("src") for s in tree.xpath("//script")}
            assert scripts <= {"/push/static/push.js"}, path
            # The page model: slim header, centre header, footer links with their data-element.
            assert tree.xpath("//*[contains(@class, 'it-header-slim-wrapper')]"), path
            assert tree.xpath("//*[contains(@class, 'it-brand-title')]"), path
            for hook in ("privacy-policy-link", "legal-notes", "accessibility-link"):
                links = tree.xpath(f"//footer//a[@data-element='{hook}']")
                assert len(links) == 1, (path, hook)
                assert links[0].get("href").startswith("/"), (path, hook)


def test_inner_pages_have_breadcrumbs_and_the_home_page_does_not(client: FlaskClient) -> None:
    assert _tree(client, "/").xpath("//*[@data-element='breadcrumb']") == []
    for path in PUBLIC_PAGES[1:]:
        crumbs = _tree(client, path).xpath("//ol[@data-element='breadcrumb']/li")
        assert len(crumbs) >= 2, path
        assert crumbs[-1].get("aria-current") == "page", path


def test_content_pages_show_when_they_were_last_updated(app: Flask, client: FlaskClient) -> None:
    published = utcnow() - timedelta(days=3)
    add_article("Nuove colonnine a Crema", ["energy"], published)
    db.session.commit()
    for path in ("/", "/topics/energy", "/accessibility", "/legal"):
        meta = _tree(client, path).xpath("//*[@data-element='metadata']")
        assert len(meta) == 1, path
        assert "Ultimo aggiornamento" in meta[0].text_content(), path
    stamp = _tree(client, "/topics/energy").xpath("//*[@data-element='metadata']//time")[0]
    assert stamp.get("datetime").startswith(published.date().isoformat())


def test_accessibility_statement_follows_agids_model(app: Flask, client: FlaskClient) -> None:
    app.config.update(
        ACCESSIBILITY_FEEDBACK_EMAIL="accessibilita@consorzio.example",
        ACCESSIBILITY_PREPARED_ON="2026-10-01",
        ACCESSIBILITY_REVIEWED_ON="2026-11-15",
        ACCESSIBILITY_STATEMENT_URL=None,
    )
    page = client.get("/accessibility").get_data(as_text=True)
    for heading in (
        "Stato di conformità",
        "Contenuti non accessibili",
        "Redazione della dichiarazione",
        "Meccanismo di feedback e recapiti",
        "Modalità di attuazione",
    ):
        assert heading in page
    assert "parzialmente conforme" in page
    assert "1 ottobre 2026" in page
    assert "15 novembre 2026" in page
    assert 'href="mailto:accessibilita@consorzio.example"' in page
    assert 'href="https://difensorecivico.agid.gov.it/"' in page
    assert "form.agid.gov.it" not in page  # no official statement configured: no link

    app.config["ACCESSIBILITY_STATEMENT_URL"] = "https://form.agid.gov.it/view/example"
    tree = _tree(client, "/accessibility")
    assert tree.xpath("//main//a[@href='https://form.agid.gov.it/view/example']")


def test_privacy_notice_lists_the_cookie_and_push_data(app: Flask, client: FlaskClient) -> None:
    page = client.get("/privacy").get_data(as_text=True)
    assert f"<code>{app.config['SESSION_COOKIE_NAME']}</code>" in page
    assert "Di prima parte, tecnico" in page
    assert "servizio push" in page
    assert "Quanto sono utili le informazioni in questa pagina?" in page
    # When the cookie is set, truthfully (tests/integration/test_formguard.py checks the facts).
    assert "Aprire le pagine di questo sito non imposta alcun cookie" in page
    assert "Mai quando apri una pagina o invii un modulo." in page
    assert "<code>newsletter-push-choice</code>" in page
    english = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "Opening the pages of this site sets no cookie" in english
    assert "Never when you just open a page or send a form." in english


def test_public_pages_set_no_cookie(client: FlaskClient) -> None:
    # Forms included (subscribe, rating, push): their tokens need no session (formguard).
    for path in PUBLIC_PAGES:
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path


def _feedback_form(client: FlaskClient, path: str) -> Any:
    forms = _tree(client, path).xpath("//*[@data-element='feedback']//form")
    assert len(forms) == 1, path
    return forms[0]


def _rating_token(client: FlaskClient, path: str = "/archive") -> str:
    fields = _feedback_form(client, path).xpath(".//input[@name='csrf_token']")
    return str(fields[0].get("value"))


def test_feedback_is_counted_per_page_and_rating_without_a_cookie(
    app: Flask, client: FlaskClient
) -> None:
    form = _feedback_form(client, "/topics/energy")
    assert form.get("action") == "/feedback"
    fields = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
    # A signed token of the "rating" form, tied to no session (newsletter/formguard.py).
    assert set(fields) == {"page", "csrf_token"}
    assert fields["page"] == "/topics/energy"
    token = fields["csrf_token"]
    labels = form.xpath(".//label[starts-with(@data-element, 'feedback-rate-')]")
    assert sorted(label.get("data-element") for label in labels) == [
        f"feedback-rate-{n}" for n in range(1, 6)
    ]

    for rating in (4, 4, 2):
        response = client.post(
            "/feedback", data={"page": "/topics/energy", "rating": rating, "csrf_token": token}
        )
        assert response.status_code == 303
        assert response.headers["Location"] == "/topics/energy?feedback=thanks#feedback"
        assert "Set-Cookie" not in response.headers
    client.post("/feedback", data={"page": "/privacy", "rating": "5", "csrf_token": token})

    rows = db.session.execute(
        sa.select(PageRating.page, PageRating.rating, PageRating.count).order_by(
            PageRating.page, PageRating.rating
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("/privacy", 5, 1),
        ("/topics/energy", 2, 1),
        ("/topics/energy", 4, 2),
    ]
    top = feedback.summary()[0]
    assert (top.page, top.counts, top.total) == ("/topics/energy", (0, 1, 0, 2, 0), 3)
    assert top.average == pytest.approx(10 / 3)

    thanks = client.get("/topics/energy?feedback=thanks").get_data(as_text=True)
    assert "Grazie per il tuo riscontro!" in thanks


def test_feedback_refuses_what_it_cannot_count(app: Flask, client: FlaskClient) -> None:
    token = _rating_token(client)
    missing = client.post("/feedback", data={"page": "/archive", "csrf_token": token})
    assert missing.status_code == 303
    assert missing.headers["Location"] == "/archive?feedback=missing#feedback"
    assert "Scegli da 1 a 5 stelle" in client.get("/archive?feedback=missing").get_data(
        as_text=True
    )
    for page in ("/preferences/some-token", "/admin/", "https://example.org/", "//evil", "x"):
        response = client.post("/feedback", data={"page": page, "rating": "3", "csrf_token": token})
        assert response.status_code == 400, page
    nine = client.post("/feedback", data={"page": "/", "rating": "9", "csrf_token": token})
    assert nine.status_code == 303
    # Without the form's token, or with another form's, nothing is counted either.
    assert client.post("/feedback", data={"page": "/", "rating": "3"}).status_code == 400
    subscribe_token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/subscribe").get_data(as_text=True)
    )
    assert subscribe_token
    wrong_form = {"page": "/", "rating": "3", "csrf_token": subscribe_token.group(1)}
    assert client.post("/feedback", data=wrong_form).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PageRating)) == 0
    # Pages reached through personal links carry no rating form at all.
    bad_link = client.get("/unsubscribe/not-a-token").get_data(as_text=True)
    assert "breadcrumb" in bad_link
    assert 'data-element="feedback"' not in bad_link


def test_dashboard_shows_page_feedback(app: Flask, admin_client: FlaskClient) -> None:
    assert "Ancora nessuna valutazione." in admin_client.get("/admin/").get_data(as_text=True)
    feedback.record("/accessibility", 5)
    feedback.record("/accessibility", 3)
    tree = _tree(admin_client, "/admin/")
    row = tree.xpath("//table[contains(@class, 'page-ratings')]/tbody/tr")[0]
    cells = [c.text_content().strip() for c in row.xpath("./th|./td")]
    assert cells == ["/accessibility", "0", "0", "1", "0", "1", "2", "4,0"]
