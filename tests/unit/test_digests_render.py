"""Rendering snapshots: citizen, immediate and mayor digests in both languages, fixed content.

Regenerate after an intended change with ``NEWSLETTER_UPDATE_SNAPSHOTS=1`` and review the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsletter import mailparts
from newsletter.digests.compose import ArticleSnapshot, Audience, DigestContent, compose
from newsletter.digests.render import RenderedDigest, TopicLabel, render
from newsletter.digests.windows import Period, immediate_period

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots" / "digests"
END = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
WEEK = Period("weekly", "weekly:2026-W48", END - timedelta(days=7), END)
TOPICS = {
    "welfare": TopicLabel("welfare", "Welfare", "Welfare", 1),
    "mobility": TopicLabel("mobility", "Mobilità", "Mobility", 2),
    "energy": TopicLabel("energy", "Energia", "Energy", 3),
    "governance": TopicLabel("governance", "Governance", "Governance", 4),
}
ALL = tuple(sorted(TOPICS))
CREMA = 7


def _articles() -> list[ArticleSnapshot]:
    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 11, day, hour, tzinfo=UTC)

    return [
        ArticleSnapshot(
            1,
            "Welfare locale, convegno dell'Area Omogenea Cremasca",
            "https://www.areaomogeneacremasca.it/news/convegno",
            "Grande partecipazione al convegno sulle politiche socio-sanitarie & i sub-ambiti.",
            at(17, 9),
            at(17, 9),
            ("governance", "welfare"),
            (CREMA,),
            "https://www.areaomogeneacremasca.it/img/convegno.jpg",
            "La Sala Pietro da Cemmo durante il convegno",
        ),
        ArticleSnapshot(
            2,
            "Rete Ciclabile del Cremasco: incontro operativo in Regione",
            "https://www.areaomogeneacremasca.it/news/rete-ciclabile",
            "Un incontro operativo con l'Assessore sulla rete ciclabile.",
            at(18, 10),
            at(18, 10),
            ("mobility",),
            (8,),
        ),
        ArticleSnapshot(
            3,
            "Comunità energetica rinnovabile a Crema",
            "https://www.areaomogeneacremasca.it/news/cer",
            "",
            at(20, 15),
            at(20, 15),
            ("energy",),
            (CREMA,),
            "https://www.areaomogeneacremasca.it/img/cer.jpg",
            None,
        ),
        ArticleSnapshot(
            4,
            "Regolamento dell'Area Omogenea: incontro a Cremona",
            None,
            "Il testo passa ai consigli comunali.",
            at(21, 8),
            at(21, 8),
            ("governance",),
        ),
    ]


def _content(kind: str, locale: str) -> DigestContent:
    if kind == "citizen":
        audience = Audience("citizen", "weekly", locale, ("energy", "welfare"))
        return compose(_articles(), WEEK, audience)
    if kind == "immediate":
        batch = immediate_period(10, datetime(2026, 11, 21, 8, 12, tzinfo=UTC))
        audience = Audience("immediate", "immediate", locale, ("governance", "mobility"))
        return compose(_articles(), batch, audience)
    audience = Audience("mayor", "weekly", locale, ALL, CREMA, "Crema")
    return compose(_articles(), WEEK, audience)


def _render(kind: str, locale: str) -> RenderedDigest:
    return render(_content(kind, locale), TOPICS, base_url="https://newsletter.example.org")


VARIANTS = [(kind, locale) for kind in ("citizen", "immediate", "mayor") for locale in ("it", "en")]


@pytest.mark.parametrize(("kind", "locale"), VARIANTS)
def test_rendering_matches_the_committed_snapshot(kind: str, locale: str) -> None:
    rendered = _render(kind, locale)
    parts = {
        "html": rendered.html,
        "txt": f"Subject: {rendered.subject}\nPreheader: {rendered.preheader}\n\n{rendered.text}",
    }
    for ext, actual in parts.items():
        path = SNAPSHOTS / f"{kind}-{locale}.{ext}"
        if os.environ.get("NEWSLETTER_UPDATE_SNAPSHOTS"):
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"missing snapshot {path}; run with NEWSLETTER_UPDATE_SNAPSHOTS=1"
        assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs"


@pytest.mark.parametrize(
    ("kind", "locale", "subject"),
    [
        ("citizen", "it", "Questa settimana: 2 articoli su Welfare e Energia"),
        ("citizen", "en", "This week: 2 articles on Welfare and Energy"),
        ("immediate", "it", "1 nuovo articolo su Mobilità e Governance"),
        ("immediate", "en", "1 new article on Mobility and Governance"),
        ("mayor", "it", "Questa settimana: 4 articoli su tutti i temi"),
        ("mayor", "en", "This week: 4 articles on all topics"),
    ],
)
def test_subject_names_count_and_topics_in_the_readers_language(
    kind: str, locale: str, subject: str
) -> None:
    assert _render(kind, locale).subject == subject


def test_html_and_text_carry_the_same_articles_and_links() -> None:
    rendered = _render("mayor", "it")
    hrefs = set(re.findall(r"<a [^>]*href=\"([^\"]+)\"", rendered.html))  # links, not the font CSS
    text_links = set(re.findall(r"(https://\S+|%%\w+%%)", rendered.text))
    assert hrefs == text_links
    assert {mailparts.UNSUBSCRIBE_URL, mailparts.PREFERENCES_URL} <= hrefs
    for title in ("Welfare locale", "Comunità energetica", "Rete Ciclabile", "Regolamento"):
        assert title in rendered.html
        assert title in rendered.text
    body = rendered.html.split("<body")[1]
    assert body.index(">Nel tuo comune: Crema</h2>") < body.index(">Mobilità</h2>")
    assert "17 novembre 2026" in rendered.html
    assert "Leggi tutto" in rendered.html
    assert 'alt="La Sala Pietro da Cemmo durante il convegno"' in rendered.html
    assert 'alt="Comunità energetica rinnovabile a Crema"' in rendered.html  # title as alt
    assert "&amp; i sub-ambiti" in rendered.html  # escaped once, not twice
    assert rendered.preheader.startswith("Crema (2) · Mobilità (1) · Governance (1)")


def test_english_dates_and_labels() -> None:
    rendered = _render("citizen", "en")
    assert "17 November 2026" in rendered.text
    assert "Read more" in rendered.text
    assert "Unsubscribe: %%UNSUBSCRIBE_URL%%" in rendered.text
    assert '<html lang="en"' in rendered.html


def test_no_tracking_and_nothing_personal() -> None:
    html = _render("citizen", "it").html
    assert "utm_" not in html
    assert 'width="1"' not in html
    assert "@" not in html.split("<body")[1]


def test_a_shared_cache_renders_each_piece_once_and_changes_nothing() -> None:
    """A build renders many variants with one RenderCache: the output is the same as rendering
    each alone, and an article's block is rendered once for all the variants that show it."""
    from newsletter.digests.render import RenderCache

    audiences = [
        Audience("citizen", "weekly", "it", ("energy", "welfare")),
        Audience("citizen", "weekly", "it", ("welfare",)),
        Audience("citizen", "weekly", "it", ("welfare",), CREMA, "Crema", local_news=True),
        Audience("mayor", "weekly", "it", ALL, CREMA, "Crema"),
    ]
    cache = RenderCache()
    for audience in audiences:
        content = compose(_articles(), WEEK, audience)
        alone = render(content, TOPICS, base_url="https://newsletter.example.org")
        shared = render(content, TOPICS, base_url="https://newsletter.example.org", cache=cache)
        assert shared == alone
    article_pieces = [key for key in cache.pieces if key[0] == "article"]
    assert len(article_pieces) == len(set(article_pieces))
    # articles 1 and 3 appear in several variants but are rendered once per format
    assert sum(1 for key in article_pieces if key[-1] == 1) == 2


def test_a_citizens_comune_section_comes_first_in_their_language() -> None:
    audience = Audience("citizen", "weekly", "it", ("energy",), CREMA, "Crema", local_news=True)
    content = compose(_articles(), WEEK, audience)
    assert [s.key for s in content.sections] == ["municipality"]  # both Crema articles
    it = render(content, TOPICS, base_url="https://newsletter.example.org")
    assert it.text.index("== Nel tuo comune: Crema ==") < it.text.index("Welfare locale")
    assert "Nel tuo comune: Crema" in it.html
    en = render(
        compose(_articles(), WEEK, Audience("citizen", "weekly", "en", (), CREMA, "Crema", True)),
        TOPICS,
        base_url="https://newsletter.example.org",
    )
    assert "== In your municipality: Crema ==" in en.text
    assert en.subject == "This week: 2 articles on Crema"
