"""The F-key footer: Textual's ``Footer`` without its leak and its needless redraws.

Textual's ``Footer`` (8.2) recomposes whenever its screen publishes
"bindings updated" — every focus change, so every dialog that opens or
closes over the checkout — and each ``FooterKey`` it builds links itself to
the footer with ``data_bind(compact=Footer.compact)``. That link is stored
on the footer (the watched object) and dropped only when ``compact``
changes, which it never does at the till: every discarded key, with its
styles and render cache, stayed alive for the life of the app (about 20 per
cash sale; Textual issue #6666, "watchers from ``self.watch(other, ...)`` /
``data_bind`` are not removed when the owner is removed from the DOM",
still open).

:class:`TillFooter` recomposes only when the keys it shows change (a key
enabled or disabled, another key map), and drops the links of the keys it
discarded before it builds new ones. When Textual fixes #6666 the pruning
finds nothing to drop; the redraws it saves stay saved.

It shows each key's label in the language in use (the labels of ``BINDINGS``
are marked with ``N_`` at import time and translated here), and every key fits:
one row when the labels fit the width, else two rows of aligned columns (at
80 columns: F2…F6 above F7…F12), never a row cut at the edge.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from pos_app.i18n import _

if TYPE_CHECKING:
    from textual.screen import Screen

# Where textual.reactive._watch keeps the links of other nodes to this one.
_WATCHERS = "__watchers"


class TillFooter(Footer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, ...] | None = None  # the keys of the last compose

    @staticmethod
    def keys_of(screen: Screen[Any]) -> tuple[Any, ...]:
        """What the footer shows for ``screen``: its keys, enabled or not, with their tooltips."""
        return tuple((binding, enabled, tooltip)
                     for _, binding, enabled, tooltip in screen.active_bindings.values() if binding.show)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._shown is not None and screen is self.screen and self.keys_of(screen) == self._shown:
            return  # the same keys: nothing to redraw (a dialog came and went)
        super().bindings_changed(screen)

    DEFAULT_CSS = """
    TillFooter {
        layout: grid;
        grid-size: 12 1;
        grid-columns: auto;
        grid-gutter: 0 1;
        height: 1;
    }
    TillFooter.-compact FooterKey { margin-right: 0; }
    """

    def compose(self) -> ComposeResult:
        self.drop_dead_links()
        if not self._bindings_ready:
            return
        self._shown = self.keys_of(self.screen)
        self._labels = []
        for binding, enabled, tooltip in self._shown:
            shown = dataclasses.replace(binding, description=_(binding.description))
            key = self.app.get_key_display(shown)
            self._labels.append(f"{key} {shown.description}")
            yield FooterKey(shown.key, key, shown.description, shown.action,
                            disabled=not enabled, tooltip=tooltip).data_bind(compact=Footer.compact)
        self._arrange(self.size.width or self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._arrange(event.size.width)

    def rows_for(self, width: int) -> int:
        """1 when every key fits one row of ``width``, else 2."""
        one_row = sum(len(label) for label in self._labels) + max(0, len(self._labels) - 1)
        return 1 if one_row <= width else 2

    def _arrange(self, width: int) -> None:
        labels = getattr(self, "_labels", [])
        if not labels or not width:
            return
        rows = self.rows_for(width)
        columns = -(-len(labels) // rows)
        if (self.styles.grid_size_columns, self.styles.height) != (columns, rows):
            self.styles.grid_size_columns = columns
            self.styles.grid_size_rows = rows
            self.styles.height = rows

    def drop_dead_links(self) -> int:
        """Forget the watch links of keys that are no longer mounted; how many were dropped."""
        watchers: dict[str, list[tuple[Any, Any]]] = getattr(self, _WATCHERS, {})
        dropped = 0
        for links in watchers.values():
            alive = [(node, callback) for node, callback in links
                     if node is self or not (node._closing or node._closed or node.parent is None)]
            dropped += len(links) - len(alive)
            links[:] = alive
        return dropped
