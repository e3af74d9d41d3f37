"""The real `pos` in a pseudo-terminal: a scanner's bytes, two tills on one
journal, and no terminal at all."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pos_app.config import PROJECT_ROOT, load_config
from tests.conftest import CROISSANT, ESPRESSO
from tests.fakes_hw import Terminal, start_pos_in_terminal, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")

GS = b"\x1d"
F9 = b"\x1b[20~"
CTRL_Q = b"\x11"


def _wait(predicate: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    assert wait_for(predicate, seconds), f"timed out waiting for {what}"


def _count(journal: Path, sql: str) -> int:
    if not journal.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return -1


def _stop(terminal: Terminal) -> None:
    if terminal.app.poll() is None:
        terminal.app.send_signal(signal.SIGKILL)
    terminal.app.wait(timeout=30)
    os.close(terminal.master)


@pytest.fixture
def wedge_config(write_config: Callable[..., Path]) -> Path:
    """An outlet whose keyboard-wedge scanner is timed as shipped (50 ms)."""
    path = write_config()
    path.write_text(path.read_text().replace("max_gap_ms = 0", "max_gap_ms = 50"))
    return path


def test_control_bytes_in_a_scan_are_not_keys_and_gs1_labels_sell(wedge_config: Path) -> None:
    journal = load_config(wedge_config).journal_path()
    terminal = start_pos_in_terminal(wedge_config)
    app, master, screen = terminal.app, terminal.master, terminal.screen
    try:
        _wait(lambda: b"Ready" in screen and _count(journal, "SELECT COUNT(*) FROM orders") == 1, "the till")
        os.write(master, f"{ESPRESSO}\r".encode())
        _wait(lambda: _count(journal, "SELECT COUNT(*) FROM lines") == 1, "the first scan")
        time.sleep(0.3)
        mark = len(screen)
        os.write(master, b"12" + F9 + b"\r34\r")  # one burst, as the scanner sends it
        _wait(lambda: b"Unreadable scan ignored (it holds the control key F9)" in screen[mark:], "the notice")
        time.sleep(1.0)
        assert _count(journal, "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'") == 0
        assert b"Cancel order" not in screen[mark:]  # not even asked
        mark = len(screen)
        os.write(master, b"761000" + CTRL_Q + b"0000028\r")
        _wait(lambda: b"Ctrl+Q" in screen[mark:], "the Ctrl+Q notice")
        time.sleep(1.0)
        assert app.poll() is None  # still running
        # a GS1 DataMatrix label: serial, GS (it ends the serial), GTIN, expiry
        os.write(master, b"]d221SN42" + GS + f"010{CROISSANT}".encode() + b"17270630\r")
        _wait(lambda: _count(journal, f"SELECT COUNT(*) FROM lines WHERE ean = '{CROISSANT}'") == 1,
              "the GS1 scan")
        time.sleep(0.3)
        os.write(master, CTRL_Q)  # the cashier's own Ctrl+Q still quits
        _wait(lambda: app.poll() is not None, "the till to quit", 30)
        assert app.returncode == 0
    finally:
        _stop(terminal)
    assert _count(journal, "SELECT COUNT(*) FROM lines") == 2


def test_a_second_till_on_the_same_journal_is_refused_until_the_first_is_gone(
        write_config: Callable[..., Path]) -> None:
    config_path = write_config()
    journal = load_config(config_path).journal_path()
    first = start_pos_in_terminal(config_path)
    second = third = None
    try:
        _wait(lambda: b"Ready" in first.screen and _count(journal, "SELECT COUNT(*) FROM orders") == 1,
              "the first till")
        started = time.monotonic()
        second = start_pos_in_terminal(config_path)
        _wait(lambda: second.app.poll() is not None, "the second till to stop", 30)
        assert time.monotonic() - started < 20
        assert second.app.returncode == 2
        shown = bytes(second.screen).decode(errors="replace")
        assert f"another till (PID {first.app.pid}" in shown and str(journal) in shown
        assert "is already using the journal" in shown and "Traceback" not in shown
        assert first.app.poll() is None  # the first is untouched
        first.app.send_signal(signal.SIGKILL)  # a crash: the OS frees the lock
        first.app.wait(timeout=30)
        third = start_pos_in_terminal(config_path)
        _wait(lambda: b"Ready" in third.screen, "the till after the crash")
        os.write(third.master, CTRL_Q)
        _wait(lambda: third.app.poll() is not None, "the till to quit", 30)
        assert third.app.returncode == 0
        assert str(third.app.pid) in (journal.parent / (journal.name + ".lock")).read_text()
    finally:
        for terminal in (first, second, third):
            if terminal is not None:
                _stop(terminal)


def _pos(config: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pos_app", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, **kwargs)  # type: ignore[arg-type]


def test_without_a_terminal_the_till_refuses_at_once(write_config: Callable[..., Path]) -> None:
    config = write_config()
    started = time.monotonic()
    result = _pos(config, stdin=subprocess.DEVNULL)
    assert time.monotonic() - started < 20
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("pos: the till needs a terminal: its input (stdin) is not one")
    assert "python3 tasks.py demo" in result.stderr and "python3 tasks.py test" in result.stderr
    assert result.stdout == ""


def test_a_piped_screen_is_refused_too(write_config: Callable[..., Path]) -> None:
    config = write_config()
    master, slave = os.openpty()
    try:
        result = _pos(config, stdin=slave)  # keys from a terminal, the screen into a pipe
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 2
    assert "pos: the till needs a terminal: its output (stdout) is not one" in result.stderr


def test_commands_that_need_no_terminal_still_work_without_one(write_config: Callable[..., Path]) -> None:
    config = write_config()
    result = _pos(config, "scanner", "test", input=f"{CROISSANT}\n")
    assert result.returncode == 0 and f"normalised='{CROISSANT}'" in result.stdout


def test_the_lock_names_its_holder_and_is_free_again_when_released(tmp_path: Path) -> None:
    from pos_app.tilllock import TillBusy, TillLock

    journal = tmp_path / "shop" / "journal-till-1.sqlite"
    first = TillLock(journal).acquire()
    with pytest.raises(TillBusy, match=rf"another till \(PID {os.getpid()}, started 20\d\d-.*\) is already "
                                       rf"using the journal {journal}"):
        TillLock(journal).acquire()
    first.release()
    with TillLock(journal) as again:
        assert again.path.read_text().startswith(f"pid={os.getpid()} started=")
    assert not journal.exists()  # the lock does not make the journal
