"""Helpers for driving the real app with Pilot."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Static


def text(pilot: Pilot, selector: str) -> str:
    """The plain text a Static currently shows (on the active screen)."""
    widget = pilot.app.screen.query_one(selector, Static)
    return str(widget.content)


def table_rows(pilot: Pilot, selector: str) -> list[list[str]]:
    table = pilot.app.screen.query_one(selector, DataTable)
    # a cell folded to its column reads as one line; the spaces that align a column are no text
    return [[str(cell).replace("\n", " ").strip() for cell in table.get_row_at(i)] for i in range(table.row_count)]


def screen_text(pilot: Pilot) -> str:
    """What the terminal shows now, line by line, as plain text (the screen's
    compositor renders it, dialogs over the checkout included)."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def scan(pilot: Pilot, code: str) -> None:
    """Type like a keyboard-wedge scanner: the characters, then Enter."""
    await pilot.press(*code, "enter")


async def settle(pilot: Pilot) -> None:
    """Let workers (printing, provider calls) finish and the screen catch up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from a journal file, as a shop owner's SQLite tool would see them
    (or from the journal server, given its ``postgresql://`` address)."""
    if str(db).startswith(("postgresql:", "postgres:")):
        import psycopg

        scheme, rest = str(db).split(":", 1)
        with psycopg.connect(f"{scheme}://{rest.lstrip('/')}") as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout_s: float) -> None:
    """Let the app run (timers, workers) until ``condition`` holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        await pilot.pause(0.05)
    await settle(pilot)
