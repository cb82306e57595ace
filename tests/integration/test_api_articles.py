"""/api/v1 through the Flask test client: tokens, upsert answers, validation, listing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.api import service as api_service
from newsletter.api.models import ApiToken
from newsletter.articles.models import Article, Source, SourceKind
from newsletter.audit import Actor
from newsletter.extensions import db

ARTICLE: dict[str, Any] = {
    "external_id": "cms-42",
    "title": "Rete ciclabile: <em>nuovo</em> tratto a Pandino",
    "url": "https://cms.example/news/42",
    "published_at": "2026-11-18T10:00:00+01:00",
    "body_html": '<p onclick="x()">Il tratto <a href="javascript:alert(1)">collega</a> '
    "Pandino e Dovera.</p>",
}


def _count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Article)) or 0)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/topics"),
        ("get", "/api/v1/articles"),
        ("post", "/api/v1/articles"),
        ("post", "/api/v1/subscribers"),
    ],
)
def test_missing_or_wrong_token_is_401_json(
    client: FlaskClient, headers: dict[str, str], method: str, path: str
) -> None:
    response = getattr(client, method)(path, headers=headers, json=ARTICLE)
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _count() == 0


def test_revoked_token_is_refused(client: FlaskClient, api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    assert client.get("/api/v1/topics", headers=headers).status_code == 200
    api_service.revoke_token("cms", actor=Actor("tests"))
    assert client.get("/api/v1/topics", headers=headers).status_code == 401


def test_upsert_201_then_200_one_row(
    client: FlaskClient, auth: dict[str, str], municipalities: None
) -> None:
    created = client.post("/api/v1/articles", headers=auth, json=ARTICLE)
    assert created.status_code == 201, created.json
    body = created.json
    assert body is not None
    assert body["title"] == "Rete ciclabile: nuovo tratto a Pandino"
    assert body["source"] == "cms"
    assert body["topics"] == ["mobility"]
    assert body["topic_assignments"][0]["assigned_by"] == "auto"
    assert body["municipalities"] == ["Dovera", "Pandino"]
    assert "javascript" not in body["body_html"]
    assert "onclick" not in body["body_html"]
    assert body["published_at"] == "2026-11-18T09:00:00Z"
    again = client.post("/api/v1/articles", headers=auth, json=ARTICLE)
    assert again.status_code == 200
    assert again.json == body
    assert _count() == 1


def test_tokens_have_their_own_sources(client: FlaskClient, auth: dict[str, str]) -> None:
    _, other = api_service.create_token("other-cms", actor=Actor("tests"))
    client.post("/api/v1/articles", headers=auth, json=ARTICLE)
    response = client.post(
        "/api/v1/articles", headers={"Authorization": f"Bearer {other}"}, json=ARTICLE
    )
    assert response.status_code == 201
    assert _count() == 2


def test_given_topics_are_kept(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/articles", headers=auth, json={**ARTICLE, "topics": ["energy", "governance"]}
    )
    assert response.json is not None
    assert response.json["topics"] == ["energy", "governance"]
    assert {a["assigned_by"] for a in response.json["topic_assignments"]} == {"source"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"published_at": "yesterday"}, "published_at"),
        ({"topics": ["sport"]}, "topics"),
        ({"url": "ftp://x", "external_id": None}, "url"),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
    ],
)
def test_validation_is_422_naming_the_field(
    client: FlaskClient, auth: dict[str, str], change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/articles", headers=auth, json={**ARTICLE, **change})
    assert response.status_code == 422
    assert response.json is not None
    assert field in response.json["details"]
    assert _count() == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("{not json", "application/json"), ("title=x", "application/x-www-form-urlencoded")],
)
def test_non_json_body_is_400(
    client: FlaskClient, auth: dict[str, str], data: str, content_type: str
) -> None:
    response = client.post("/api/v1/articles", headers=auth, data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["details"] == {"body": "not JSON"}


def test_a_json_list_is_422(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/articles", headers=auth, json=[ARTICLE])
    assert response.status_code == 422


def test_list_articles_filters_and_validates(client: FlaskClient, auth: dict[str, str]) -> None:
    for index, day in enumerate((16, 18, 17)):
        client.post(
            "/api/v1/articles",
            headers=auth,
            json={
                **ARTICLE,
                "external_id": f"a{index}",
                "published_at": f"2026-11-{day}T10:00:00Z",
            },
        )
    client.post(
        "/api/v1/articles",
        headers=auth,
        json={**ARTICLE, "external_id": "w", "topics": ["welfare"]},
    )
    response = client.get("/api/v1/articles?topic=mobility&limit=2", headers=auth)
    assert response.status_code == 200
    assert response.json is not None
    assert [a["external_id"] for a in response.json["articles"]] == ["a1", "a2"]
    since = client.get("/api/v1/articles?since=2026-11-17T00:00:00Z", headers=auth)
    assert since.json is not None
    assert {a["external_id"] for a in since.json["articles"]} == {"a1", "a2", "w"}
    for query, field in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=1000", "limit"),
        ("since=ieri", "since"),
        ("topic=sport", "topic"),
    ]:
        bad = client.get(f"/api/v1/articles?{query}", headers=auth)
        assert bad.status_code == 400, query
        assert bad.json is not None
        assert field in bad.json["details"]


def test_topics_and_openapi(client: FlaskClient, auth: dict[str, str]) -> None:
    topics = client.get("/api/v1/topics", headers=auth).json
    assert topics is not None
    assert [t["slug"] for t in topics["topics"]] == ["welfare", "mobility", "energy", "governance"]
    document = client.get("/api/v1/openapi.json").json
    assert document is not None
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/openapi.json",
        "/api/v1/topics",
        "/api/v1/articles",
        "/api/v1/subscribers",
        "/api/v1/alerts",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}/update",
        "/api/v1/alerts/{id}/cancel",
    }
    assert set(document["paths"]["/api/v1/articles"]) == {"get", "post"}


def test_token_create_cli_prints_token_last_and_stores_only_hash(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    result = runner.invoke(args=["token", "create", "sito"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 40
    stored = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "sito"))
    assert stored is not None
    assert stored.token_hash == api_service.hash_token(token)
    assert token not in stored.token_hash
    source = db.session.get(Source, stored.source_id)
    assert source is not None
    assert (source.name, source.kind) == ("sito", SourceKind.PUSH)
    ok = client.get("/api/v1/topics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    again = runner.invoke(args=["token", "create", "sito"])
    assert again.exit_code == 1
    assert again.output.startswith("Error: a token named 'sito' exists already")
    revoked = runner.invoke(args=["token", "revoke", "sito"])
    assert revoked.exit_code == 0
    assert (
        client.get("/api/v1/topics", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
