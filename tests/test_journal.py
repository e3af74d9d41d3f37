"""The journal: pragmas, transactions, recovery after SIGKILL, damaged files."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pos_app.config import PROJECT_ROOT, load_config
from pos_app.journal import Journal, JournalError
from pos_app.journal.schema import MIGRATIONS
from pos_app.services.checkout import Till
from tests.conftest import CROISSANT, ESPRESSO, MERLOT
from tests.fakes_hw import start_pos_in_terminal

CHILD = """
import asyncio, json, sys, time
from pathlib import Path
from pos_app.config import load_config
from pos_app.services.setup import open_till
till = open_till(load_config(Path(sys.argv[1])))
till.scan("{espresso}")
till.scan("3*{croissant}")
till.scan("{merlot}")
asyncio.run(till.void_line(till.order.active_lines[0].id))
asyncio.run(till.pay_card(till.parse_amount("10.00")))
asyncio.run(till.pay_cash(till.parse_amount("20")))
o = till.order
print(json.dumps({{
    "id": o.id,
    "lines": [[l.ean, l.quantity, l.unit_price.minor, l.voided] for l in o.lines],
    "tenders": [[t.kind.value, t.amount.minor, t.given and t.given.minor] for t in o.tenders],
    "remaining": o.remaining.minor,
}}), flush=True)
time.sleep(600)
""".format(espresso=ESPRESSO, croissant=CROISSANT, merlot=MERLOT)


def test_pragmas_and_schema(till: Till) -> None:
    assert till.journal.pragma("journal_mode") == "wal"
    assert till.journal.pragma("synchronous") == 2  # FULL
    assert till.journal.pragma("user_version") >= 1


def test_sigkill_mid_order_restores_it_exactly(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    config_path = write_config()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(config_path)],
                             stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        assert line, "the child died before its order was built"
        before = json.loads(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    till = till_factory(load_config(config_path))
    order = till.order
    assert till.recovered and order.id == before["id"]
    assert [[l.ean, l.quantity, l.unit_price.minor, l.voided] for l in order.lines] == before["lines"]
    assert [[t.kind.value, t.amount.minor, t.given and t.given.minor] for t in order.tenders] == before["tenders"]
    assert order.remaining.minor == before["remaining"] == 14_90 - 14_90 + 7_50 + 38_00 - 10_00 - 20_00
    # the recovered order goes on as if nothing happened
    outcome = asyncio.run(till.pay_cash(till.parse_amount("20")))
    assert outcome.closed is not None and outcome.closed.change.minor == 20_00 - 15_50


# Keys as a terminal sends them (xterm): F4 = ESC O S.
F4 = "\x1bOS"


def _wait_for(predicate: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the app")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_sigkill_the_real_app_in_a_terminal(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    """The real `pos` in a pseudo-terminal: scan, pay part, kill -9, restart."""
    config_path = write_config()
    journal = load_config(config_path).journal_path()
    terminal = start_pos_in_terminal(config_path)
    app, master, screen = terminal.app, terminal.master, terminal.screen

    def count(sql: str) -> int:
        if not journal.exists():
            return -1
        try:
            with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
                return conn.execute(sql).fetchone()[0]
        except sqlite3.Error:
            return -1

    try:
        _wait_for(lambda: count("SELECT COUNT(*) FROM orders") == 1 and b"Ready" in screen)
        os.write(master, f"{ESPRESSO}\r".encode())
        _wait_for(lambda: count("SELECT COUNT(*) FROM lines") == 1)
        os.write(master, f"2*{MERLOT}\r".encode())
        _wait_for(lambda: count("SELECT COUNT(*) FROM lines") == 2)
        mark = len(screen)
        os.write(master, F4.encode())
        _wait_for(lambda: b"Amount taken on the terminal" in screen[mark:])  # the card dialog is up
        os.write(master, b"12.50\r")
        _wait_for(lambda: count("SELECT COUNT(*) FROM tenders") == 1)
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=30)
        os.close(master)
    assert app.returncode == -signal.SIGKILL

    till = till_factory(load_config(config_path))
    assert till.recovered
    assert [(l.name, l.quantity) for l in till.order.active_lines] == [
        ("Espresso beans 500 g", 1), ("Merlot 75 cl", 2)]
    assert [(t.kind.value, t.amount.minor) for t in till.order.active_tenders] == [("card", 1250)]
    assert till.order.remaining.minor == 14_90 + 76_00 - 12_50


def test_damaged_journal_stops_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path, "o", "1").close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # scribble over the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="damaged.*Do not delete it"):
        Journal(path, "o", "1")


def test_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path, "o", "1").close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=999")
    with pytest.raises(JournalError, match="newer version"):
        Journal(path, "o", "1")


async def test_order_numbers_are_sequential_per_till(till: Till) -> None:
    numbers = []
    for _ in range(3):
        till.scan(CROISSANT)
        numbers.append((await till.pay_card(till.parse_amount("2.50"))).closed.number)  # type: ignore[union-attr]
    till.scan(CROISSANT)
    await till.cancel_order()
    till.scan(CROISSANT)
    numbers.append((await till.pay_card(till.parse_amount("2.50"))).closed.number)  # type: ignore[union-attr]
    assert numbers == ["1-0001", "1-0002", "1-0003", "1-0004"]  # cancelled orders get no number
    kinds = [e["kind"] for e in till.journal.events()]
    assert kinds.count("order_closed") == 4 and kinds.count("order_cancelled") == 1
    assert kinds.count("line_added") == 5 and kinds.count("tender_added") == 4


# -- which files may become a journal ------------------------------------------------------
def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_fresh_start_creates_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "new" / "journal.sqlite"
    journal = Journal(path, "o", "1")
    assert journal.pragma("user_version") == len(MIGRATIONS) and journal.pragma("journal_mode") == "wal"
    order = journal.start_order("CHF")
    journal.close()
    assert _files(path.parent) == ["journal.sqlite"]  # nothing left of the creation
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id FROM orders").fetchall() == [(order,)]
    Journal(path, "o", "1").close()  # and it opens again as it is


def test_a_till_killed_while_creating_the_journal_leaves_nothing_in_the_way(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    (tmp_path / "journal.sqlite.creating").write_bytes(b"SQLite format 3\x00half")  # killed mid-creation
    (tmp_path / "journal.sqlite.creating-wal").write_bytes(b"x")
    Journal(path, "o", "1").close()
    assert _files(tmp_path) == ["journal.sqlite"]


@pytest.mark.parametrize(("content", "why"), [
    (b"", r"\(the file is empty\). Do not delete it: the till would start a new journal and number "
          r"orders from 1 again"),
    (b"\n", r"\(it is not a SQLite database\). Do not delete it"),
    (b"order 1-0042 CHF 14.90\n" * 300, r"\(it is not a SQLite database\). Do not delete it"),
])
def test_an_existing_file_that_is_no_journal_is_not_started_over(tmp_path: Path, content: bytes, why: str) -> None:
    """Only a missing file becomes a new journal: an emptied or overwritten one would
    otherwise silently restart the order numbers at 1-0001."""
    path = tmp_path / "journal.sqlite"
    path.write_bytes(content)
    with pytest.raises(JournalError, match=f"^the journal {re.escape(str(path))} is damaged {why}"):
        Journal(path, "o", "1")
    assert path.read_bytes() == content and _files(tmp_path) == ["journal.sqlite"]


def test_a_sqlite_file_without_the_journal_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="damaged .*without the journal's tables.*Do not delete it"):
        Journal(path, "o", "1")
    assert path.read_bytes() == before

    Journal(path := tmp_path / "j2.sqlite", "o", "1").close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE provider_ops")
    conn.close()
    with pytest.raises(JournalError, match="damaged \\(its table 'provider_ops' is missing\\)"):
        Journal(path, "o", "1")


def test_an_emptied_journal_stops_the_till_at_start(write_config: Callable[..., Path]) -> None:
    config_path = write_config()
    journal = load_config(config_path).journal_path()
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "pos_app", "--config", str(config_path)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pos: the journal {journal} is damaged (the file is empty)")
    assert journal.read_bytes() == b""
