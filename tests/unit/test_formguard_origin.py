"""The origin comparison of ``formguard``: one spelling per origin, anything else is not ours."""

from __future__ import annotations

import pytest

from newsletter.formguard import _origin


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Newsletter.Example.org", "https://newsletter.example.org"),
        ("https://newsletter.example.org:443/subscribe?x=1", "https://newsletter.example.org"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://localhost:80", "http://localhost"),
        ("https://example.org:8443", "https://example.org:8443"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
    ],
)
def test_same_origin_spelled_differently(raw: str, origin: str) -> None:
    assert _origin(raw) == origin


@pytest.mark.parametrize(
    "raw", ["null", "", "file:///etc/passwd", "javascript:alert(1)", "https://", "http://x:99999"]
)
def test_what_is_no_origin(raw: str) -> None:
    assert _origin(raw) is None
