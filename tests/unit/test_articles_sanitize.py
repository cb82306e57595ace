from __future__ import annotations

import pytest

from newsletter.articles.sanitize import html_to_text, plain_text, sanitize_html, text_to_html

HOSTILE = [
    '<script>alert("x")</script><p>ok</p>',
    '<img src="https://example.org/a.png" onerror="alert(1)">',
    '<a href="javascript:alert(1)">clic</a>',
    '<a href="JaVaScRiPt:alert(1)">clic</a>',
    '<a href="jav&#x09;ascript:alert(1)">clic</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">clic</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "<style>body{background:url(javascript:alert(1))}</style><p>testo</p>",
    '<svg><script>alert(1)</script></svg><math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<iframe src="https://evil.example"></iframe><object data="x"></object>',
    '<p style="background:url(javascript:alert(1))" onclick="alert(1)">testo</p>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<div><a href="vbscript:msgbox(1)">x</a></div><form action="https://e"><input></form>',
    "<!--<script>alert(1)</script>--><p>commento</p>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
]


@pytest.mark.parametrize("html", HOSTILE)
def test_hostile_html_comes_out_inert(html: str) -> None:
    cleaned = sanitize_html(html).lower()
    for bad in ("<script", "onerror", "onclick", "javascript:", "vbscript:", "data:", "<style"):
        assert bad not in cleaned
    for bad in ("<iframe", "<object", "<svg", "<math", "<form", "<input", "style="):
        assert bad not in cleaned


def test_allowed_markup_survives_and_links_get_rel() -> None:
    html = (
        '<h2>Titolo</h2><p>Un <strong>testo</strong> con <a href="https://comune.example/x">'
        "link</a> e <em>enfasi</em>.</p><ul><li>uno</li></ul><blockquote>cit</blockquote>"
        '<img src="https://comune.example/a.jpg" alt="foto">'
    )
    cleaned = sanitize_html(html)
    assert '<a href="https://comune.example/x" rel="noopener noreferrer">link</a>' in cleaned
    for tag in ("<h2>", "<strong>", "<em>", "<ul>", "<li>", "<blockquote>"):
        assert tag in cleaned
    assert '<img src="https://comune.example/a.jpg" alt="foto">' in cleaned


def test_relative_and_plain_http_images_are_dropped_but_mailto_links_kept() -> None:
    cleaned = sanitize_html(
        '<img src="http://x.example/a.png"><img src="/a.png"><a href="/rel">r</a>'
        '<a href="mailto:ufficio@comune.example">scrivi</a>'
    )
    assert "http://x.example" not in cleaned
    assert 'src="/a.png"' not in cleaned
    assert 'href="/rel"' not in cleaned
    assert 'href="mailto:ufficio@comune.example"' in cleaned


def test_plain_text_keeps_paragraphs_and_bullets() -> None:
    text = html_to_text("<p>Primo paragrafo.</p><p>Secondo.</p><ul><li>voce</li></ul>")
    assert "Primo paragrafo.\n" in text
    assert "Secondo." in text
    assert "* voce" in text
    assert "<" not in text


def test_titles_lose_markup_and_script_content() -> None:
    assert plain_text("<b>Bandi</b> &amp; <i>contributi</i>\n<script>alert(1)</script>") == (
        "Bandi & contributi"
    )
    assert plain_text("A < B e 3 > 2") == "A < B e 3 > 2"


def test_plain_body_becomes_escaped_paragraphs() -> None:
    html = text_to_html("Riga uno\nriga due\n\n<script>x</script>")
    assert html == "<p>Riga uno<br>riga due</p>\n<p>&lt;script&gt;x&lt;/script&gt;</p>"


def test_control_characters_do_not_reach_the_database() -> None:
    assert "\x00" not in plain_text("Tito\x00lo")
    assert "\x00" not in sanitize_html("<p>a\x00b</p>")
