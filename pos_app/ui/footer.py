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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.widgets import Footer

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

    def compose(self) -> ComposeResult:
        self.drop_dead_links()
        if self._bindings_ready:
            self._shown = self.keys_of(self.screen)
        yield from super().compose()

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
