"""Rendered feeds kept in process memory, one slot per (feed, format).

A slot remembers the version it was rendered for; a request whose version differs renders
again and replaces it. So the cache never needs to be told about a new, edited, hidden or deleted
article: the version query already tells the request. Bounded: the least recently used slot goes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from newsletter.feeds.service import RenderedFeed

DEFAULT_SLOTS = 64


class FeedCache:
    def __init__(self, max_slots: int = DEFAULT_SLOTS) -> None:
        self.max_slots = max_slots
        self._slots: OrderedDict[tuple[str, str], tuple[Any, RenderedFeed]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, fmt: str, version: Any) -> RenderedFeed | None:
        key = (name, fmt)
        with self._lock:
            found = self._slots.get(key)
            if found is None or found[0] != version:
                return None
            self._slots.move_to_end(key)
            return found[1]

    def put(self, name: str, fmt: str, version: Any, feed: RenderedFeed) -> None:
        key = (name, fmt)
        with self._lock:
            self._slots[key] = (version, feed)
            self._slots.move_to_end(key)
            while len(self._slots) > self.max_slots:
                self._slots.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()

    def __len__(self) -> int:
        return len(self._slots)
