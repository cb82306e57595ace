"""The home page, health check and error handling that every later page relies on."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


def test_home_lists_the_four_topics_in_italian(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="it">' in page
    for name in ("Welfare", "Mobilità", "Energia", "Governance"):
        assert name in page
    assert "Comunità energetiche rinnovabili" in page
    assert ">Temi</h2>" in page
    assert "Vai al contenuto" in page


def test_home_in_english_on_request_and_it_sticks(client: FlaskClient) -> None:
    page = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Mobility" in page
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_home_follows_accept_language(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page


def test_security_headers_on_pages(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers
    secure = client.get("/", base_url="https://newsletter.example.org")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_healthz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "oldest_due_delivery_age_seconds": None,
        "warnings": [],  # e.g. rate limits counted per worker (test_ops_security.py)
    }


def test_unknown_page_is_a_404_page_not_a_traceback(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)
    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404
    assert api.json is not None
    assert "error" in api.json


@pytest.mark.parametrize("app_overrides", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_trusted_proxy_https_and_client_address_are_honoured(
    client: FlaskClient,
) -> None:
    response = client.get(
        "/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    )
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_forwarded_headers_are_ignored_without_trusted_proxies(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
