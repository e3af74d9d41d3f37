"""Render caches that Textual keeps for widgets the till has discarded.

Textual (8.2) memoizes ``StylesCache.get_inner_outer`` with ``functools.lru_cache``
on the instance method, so the cache keys hold up to 1024 ``StylesCache``
objects — each with the rendered lines (strips and their own caches) of a
widget that may be long gone. Every dialog the till opens and closes (cash,
card, vouchers, status: 5 to 15 widgets) added its widgets' caches: RSS
grew by several MiB per 100 sales until the 1024 keys were full (Textual
issue #6665, "StylesCache.get_inner_outer retains whole StylesCache objects
via lru_cache", still open).

:func:`release_discarded_styles` empties that memo (two small styles per
key, computed again at the next render); the checkout calls it whenever a
dialog has closed.
"""

from __future__ import annotations

from textual._styles_cache import StylesCache


def release_discarded_styles() -> None:
    """Forget the memo that keeps the render caches of removed widgets alive."""
    clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if clear is not None:  # gone once Textual stops memoizing it on the instance
        clear()
