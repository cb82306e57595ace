from __future__ import annotations

import io

import pytest

from newsletter.articles.cli import PROGRESS_MIN_ITEMS, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_long_import_on_a_terminal_shows_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress_bar(PROGRESS_MIN_ITEMS) as step:
        for _ in range(PROGRESS_MIN_ITEMS):
            step()
    assert "importing" in terminal.getvalue()
    assert "100%" in terminal.getvalue()


@pytest.mark.parametrize(("total", "stream"), [(3, Terminal()), (500, io.StringIO())])
def test_short_imports_and_pipes_get_no_bar(
    monkeypatch: pytest.MonkeyPatch, total: int, stream: io.StringIO
) -> None:
    monkeypatch.setattr("sys.stderr", stream)
    with progress_bar(total) as step:
        step()
    assert stream.getvalue() == ""
