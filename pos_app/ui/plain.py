"""Widgets that show text as text.

Textual parses the strings given to ``Static``, ``Label`` and DataTable cells
as markup, so a scanned ``[/X]``, a provider message with ``[/]`` or a
product name with ``[b]`` would crash the till or vanish. Everything on the
screen that is not the till's own fixed wording goes through these.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.visual import visualize
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


def same(a: object, b: object) -> bool:
    """The same text in the same styles (``Text ==`` ignores the base style and justify)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return (a.plain, a.style, a.justify, a.spans) == (b.plain, b.style, b.justify, b.spans)
    return type(a) is type(b) and a == b


def _extent(widget: Plain, content: object) -> tuple[int, int] | None:
    """The room ``content`` takes in ``widget`` as laid out now, measured as Textual
    measures it (width for an auto-width widget, height for an auto-height one, at
    its width); None before the widget's first layout."""
    width = widget.content_region.width
    if not width:
        return None
    styles = widget.styles
    auto_width = styles.width is not None and styles.width.is_auto
    auto_height = styles.height is not None and styles.height.is_auto
    if not (auto_width or auto_height):
        return 0, 0  # its size does not depend on what it shows
    visual = visualize(widget, content, markup=False)
    if auto_width:
        width = visual.get_optimal_width(styles, widget.container_size.width)
    return width, visual.get_height(styles, width) if auto_height else 0


def show(widget: Plain, content: str | Text) -> None:
    """Show ``content`` in ``widget``: nothing when it already shows it, and a new
    layout of the screen only when the room it takes changes (``Static.update``
    lays out the whole screen each time)."""
    old = widget.content
    if same(old, content):
        return
    before = _extent(widget, old)
    widget.update(content, layout=before is None or before != _extent(widget, content))
