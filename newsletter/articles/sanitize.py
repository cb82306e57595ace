"""Article HTML and text made safe for pages, e-mails and feeds.

HTML goes through nh3 (an allow-list sanitiser) with tags that render in mail clients and feed
readers; plain text is derived by inscriptis, which knows block elements and lists, not by regex.
Titles and summaries are kept as plain text: templates escape them, so markup in them is inert.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3
from inscriptis import get_text

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "a", "strong", "b", "em", "i", "u", "s", "sub", "sup", "small",
        "ul", "ol", "li", "blockquote", "q", "cite", "abbr", "code", "pre",
        "h2", "h3", "h4", "img", "figure", "figcaption",
        "table", "thead", "tbody", "tr", "th", "td", "caption",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "abbr": {"title"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}
# Removed together with their content, not just unwrapped.
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math"}
)
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _absolute_url(value: str, schemes: frozenset[str]) -> bool:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Links must be absolute http(s)/mailto and images https: a mail has no base URL."""
    if tag == "a" and attribute == "href":
        return value if _absolute_url(value, LINK_SCHEMES) else None
    if tag == "img" and attribute == "src":
        return value if _absolute_url(value, frozenset({"https"})) else None
    if attribute in {"width", "height", "colspan", "rowspan", "start"}:
        return value if value.isdigit() and len(value) <= 5 else None
    return value


def clean_control(text: str) -> str:
    """Control characters (NUL breaks PostgreSQL) and lone surrogates have no place in text."""
    text = _CONTROL.sub("\ufffd", text)
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def sanitize_html(fragment: str) -> str:
    """The allow-listed subset of ``fragment``; links get rel="noopener noreferrer"."""
    if not fragment.strip():
        return ""
    cleaned = nh3.clean(
        clean_control(fragment),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return cleaned.strip()


def html_to_text(fragment: str) -> str:
    """Readable plain text of (already sanitised) HTML: paragraphs, list bullets, no markup."""
    if not fragment.strip():
        return ""
    text = get_text(fragment)
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def plain_text(value: str) -> str:
    """One line of plain text from something that may hold markup (titles, summaries)."""
    stripped = nh3.clean(
        clean_control(value), tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT)
    )
    return _SPACES.sub(" ", html.unescape(stripped)).strip()


def text_to_html(text: str) -> str:
    """Paragraph markup for a plain-text body: blank lines separate paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", clean_control(text)) if p.strip()]
    return "\n".join(
        "<p>" + "<br>".join(html.escape(line.strip()) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )


def safe_url(value: str | None, schemes: frozenset[str] = frozenset({"http", "https"})) -> bool:
    return value is not None and _absolute_url(value, schemes)
