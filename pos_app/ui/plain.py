"""Widgets that show text as text.

Textual parses the strings given to ``Static``, ``Label`` and DataTable cells
as markup, so a scanned ``[/X]``, a provider message with ``[/]`` or a
product name with ``[b]`` would crash the till or vanish. Everything on the
screen that is not the till's own fixed wording goes through these.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Label, Static


class Plain(Static):
    """A Static whose strings are shown as they are (no markup)."""

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, markup=False, **kwargs)


class PlainLabel(Label):
    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, markup=False, **kwargs)


def text(value: str | Text) -> Text:
    """A DataTable cell or notification body that is shown as it is."""
    return value if isinstance(value, Text) else Text(value)
