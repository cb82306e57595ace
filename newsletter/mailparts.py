"""Placeholders in a rendered digest that the sender replaces per recipient.

A digest variant is rendered once; these literal markers stand where each recipient's own
links go. They are plain ASCII so the sender can patch prepared bytes.
"""

from __future__ import annotations

UNSUBSCRIBE_URL = "%%UNSUBSCRIBE_URL%%"
PREFERENCES_URL = "%%PREFERENCES_URL%%"
ALL = (UNSUBSCRIBE_URL, PREFERENCES_URL)
