"""The till's files on disk: private modes, backups, the last order number, and
what the till says when the disk is full or a file or folder cannot be written.

File modes do not stop root: when the tests run as root, the tills whose
permissions matter run without root's file capabilities (see ``as_other_user``).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.printer.base import FilePrinter
from pos_app.config import PROJECT_ROOT, load_config
from pos_app.domain.money import Money
from pos_app.journal import Journal, JournalBehindError, JournalError, JournalWriteError
from pos_app.journal.backup import backup_journal
from pos_app.journal.store import last_number_path
from pos_app.services.checkout import Till
from tests.conftest import CROISSANT, ESPRESSO, MERLOT
from tests.fakes_hw import read_all, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes and pseudo-terminals")

F3, F6, ESCAPE, CTRL_Q = "\x1bOR", "\x1b[17~", "\x1b", "\x11"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def count(db: Path, sql: str) -> int:
    """A number from a journal, read as a shop owner's tool would (the -wal included)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        return -1
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def pos(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.CompletedProcess[str]:
    """The real ``pos`` command, to its end."""
    return subprocess.run([sys.executable, "-m", "pos_app", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}, **popen)


class App:
    """The real ``pos`` in a pseudo-terminal (100×30), maybe as another user."""

    def __init__(self, config: Path, env: dict[str, str] | None = None, **popen: Any) -> None:
        self.master, slave = os.openpty()
        full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TERM": "xterm-256color",
                    "COLUMNS": "100", "LINES": "30", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "pos_app", "--config", str(config)],
                                     stdin=slave, stdout=slave, stderr=slave, env=full_env, close_fds=True,
                                     start_new_session=True, **popen)
        os.close(slave)
        self.screen = bytearray()
        threading.Thread(target=read_all, args=(self.master, self.screen), daemon=True).start()

    def keys(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self, predicate: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
        assert wait_for(predicate, seconds), f"timed out waiting for {what}; screen:\n{self.text()[-3000:]}"

    def shows(self, text: str) -> bool:
        return text.encode() in self.screen

    def text(self, start: int = 0) -> str:
        """What was drawn from byte ``start`` on, without terminal control sequences."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", " ", self.screen[start:].decode("utf-8", "replace"))

    def quit(self) -> int:
        self.keys(CTRL_Q)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        try:
            os.close(self.master)
        except OSError:
            pass


def pay_cash(app: App) -> None:
    """F3, then Enter: cash, the amount due."""
    mark = len(app.screen)
    app.keys(F3)
    app.wait(lambda: b"Cash" in app.screen[mark:], "the cash dialog")
    time.sleep(0.2)
    app.keys("\r")


def _without_root_file_powers() -> None:
    """In the child, before exec: drop the capabilities that let root ignore file
    modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the bounding set, so the
    till runs as root but a read-only file or folder is read-only to it."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def as_other_user() -> dict[str, Any]:
    """Popen arguments under which file modes apply to the till, also when the tests
    run as root. (Running it as another user instead needs that user to reach the
    interpreter, which a fresh clone in a private folder does not allow.)"""
    return {"preexec_fn": _without_root_file_powers} if os.geteuid() == 0 else {}


def give_away(*paths: Path) -> None:
    """Kept for the tests' shape: the till runs as the files' owner (see :func:`as_other_user`)."""


@pytest.fixture
def outside() -> Iterator[Path]:
    """A short folder outside pytest's (root-only) tmp_path, that another user can reach."""
    folder = Path(tempfile.mkdtemp(prefix="pos-"))
    folder.chmod(0o755)
    give_away(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def config_in(folder: Path, write_config: Callable[..., Path], body: str = "", **kwargs: Any) -> Path:
    """An outlet configuration in ``folder`` (readable by the till's user)."""
    path = folder / "outlet.toml"
    path.write_text(write_config(body, **kwargs).read_text(encoding="utf-8"), encoding="utf-8")
    path.chmod(0o644)
    return path


def env_for(folder: Path) -> dict[str, str]:
    """Data and caches in ``folder``: another user has no home to write to."""
    return {"POS_DATA_DIR": str(folder / "data"), "XDG_CACHE_HOME": str(folder / "cache"),
            "ESCPOS_CAPABILITIES_PICKLE_DIR": str(folder / "cache"), "HOME": str(folder)}


# -- permissions --------------------------------------------------------------------------------
def test_the_tills_files_are_private_whatever_the_umask(
    outside: Path, write_config: Callable[..., Path],
) -> None:
    """The real till with umask 022, on a data folder of an older version (0755, pos.log and
    printer.bin 0644): after a sale, a balance check and a backup, every file is 0600 and
    every folder 0700; the log shows voucher codes by their last 4 characters only."""
    config = config_in(outside, write_config, '[providers.eguma]\nbase_url = "sim://eguma"\n',
                       printer='kind = "file"')
    data = outside / "data" / "test-outlet"
    data.mkdir(parents=True)
    data.chmod(0o755)
    for old in ("pos.log", "printer.bin"):
        (data / old).write_bytes(b"")
        (data / old).chmod(0o644)
    journal = data / "journal-till-1.sqlite"
    old_umask = os.umask(0o022)
    try:
        app = App(config, env_for(outside))
    finally:
        os.umask(old_umask)
    try:
        app.wait(lambda: app.shows("Ready") and count(journal, "SELECT COUNT(*) FROM orders") == 1, "start")
        app.keys(f"{CROISSANT}\r")
        app.wait(lambda: count(journal, "SELECT COUNT(*) FROM lines") == 1, "the line")
        pay_cash(app)
        app.wait(lambda: (data / "printer.bin").stat().st_size > 0 and last_number_path(journal).exists(),
                 "the receipt and the last order number")
        app.keys(f"{F6}L4FU-5LQT-KJR3\r")
        app.wait(lambda: "balance.json" in (data / "pos.log").read_text(encoding="utf-8"), "the balance check")
        app.keys(ESCAPE)
        backups = outside / "backups" / "daily"
        result = pos("--config", str(config), "journal", "backup", f"{backups}/", env=env_for(outside))
        assert result.returncode == 0, result.stderr
        files = [journal, Path(f"{journal}-wal"), Path(f"{journal}-shm"), data / "pos.log",
                 data / "printer.bin", last_number_path(journal), *backups.iterdir()]
        modes = {p.name: oct(mode(p)) for p in files}
        folders = {p.name: oct(mode(p)) for p in (data, backups, backups.parent)}
    finally:
        code = app.quit()
    assert modes == {p.name: "0o600" for p in files}, modes
    assert folders == {p.name: "0o700" for p in (data, backups, backups.parent)}, folders
    assert len(files) == 7 and code == 0
    log = (data / "pos.log").read_text(encoding="utf-8")
    assert "/vouchers/…KJR3/balance.json" in log and "L4FU5LQTKJR3" not in log


def test_a_journal_from_before_is_made_private_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, "o", "1")
    journal.start_order("CHF")
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        file.chmod(0o644)
    Journal(path, "o", "1").close()  # the second connection tightens them
    assert {oct(mode(p)) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))} == {"0o600"}
    journal.close()


def test_a_new_journal_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        journal = Journal(tmp_path / "new" / "deeper" / "journal.sqlite", "o", "1")
        journal.start_order("CHF")
    finally:
        os.umask(old_umask)
    path = journal.path
    assert [oct(mode(p)) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))] == ["0o600"] * 3
    assert [oct(mode(p)) for p in (path.parent, path.parent.parent)] == ["0o700"] * 2
    journal.close()


def test_the_file_printer_and_a_backup_are_private_whatever_the_umask(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite", "o", "1")
    journal.allocate_number(journal.start_order("CHF"))
    old_umask = os.umask(0)
    try:
        FilePrinter(tmp_path / "receipts" / "printer.bin").send(b"receipt")
        copy = backup_journal(journal.path, f"{tmp_path}/backups/", "o", "1").path
    finally:
        os.umask(old_umask)
        journal.close()
    assert oct(mode(tmp_path / "receipts" / "printer.bin")) == oct(mode(copy)) == "0o600"
    assert oct(mode(tmp_path / "receipts")) == oct(mode(copy.parent)) == "0o700"
    assert oct(mode(last_number_path(journal.path))) == "0o600"


# -- backups and the last order number ------------------------------------------------------------
def test_backup_and_check_while_the_till_runs_and_a_journal_without_its_wal_stops_the_till(
    outside: Path, write_config: Callable[..., Path],
) -> None:
    """The real till sells twice; its sales are only in the -wal. A plain copy of the
    journal file has none of them; `pos journal backup` has both and `check` says so.
    A till started on the plain copy stops, naming both numbers, instead of giving
    1-0001 again."""
    config = config_in(outside, write_config)
    env = env_for(outside)
    journal = outside / "data" / "test-outlet" / "journal-till-1.sqlite"
    app = App(config, env)
    try:
        app.wait(lambda: app.shows("Ready") and count(journal, "SELECT COUNT(*) FROM orders") == 1, "start")
        for sale, code in enumerate((ESPRESSO, MERLOT), start=1):
            app.keys(f"{code}\r")
            app.wait(lambda: count(journal, "SELECT COUNT(*) FROM lines") == sale, "the line")
            pay_cash(app)
            app.wait(lambda: count(journal, "SELECT COUNT(*) FROM orders WHERE number IS NOT NULL") == sale,
                     "the sale")
        plain = outside / "plain-copy.sqlite"
        shutil.copyfile(journal, plain)  # what "back up the journal file" used to mean
        backup = pos("--config", str(config), "journal", "backup", str(outside / "copy.sqlite"), env=env)
        check = pos("--config", str(config), "journal", "check", env=env)
    finally:
        assert app.quit() == 0
    assert count(plain, "SELECT COUNT(*) FROM orders WHERE number IS NOT NULL") == 0  # silently empty

    assert backup.returncode == 0, backup.stderr
    assert "3 orders, the last 1-0002; copy checked" in backup.stdout
    copy = outside / "copy.sqlite"
    assert count(copy, "SELECT COUNT(*) FROM orders WHERE number IS NOT NULL") == 2
    assert count(copy, "SELECT MAX(number) FROM orders") == 2
    assert sorted(p.name for p in outside.iterdir() if p.name.startswith("copy")) == ["copy.sqlite"]
    assert check.returncode == 0, check.stdout + check.stderr
    for said in ("orders: 3 (2 closed, 1 open)", "last order number in the journal: 1-0002",
                 "last order number the till gave: 1-0002", "receipts not printed: 0",
                 "open provider operations: 0", "journal OK"):
        assert said in check.stdout, said

    # the journal is lost and the plain copy put in its place
    for file in (journal, Path(f"{journal}-wal"), Path(f"{journal}-shm")):
        file.unlink(missing_ok=True)
    shutil.copyfile(plain, journal)
    before = journal.read_bytes()
    started = pos("--config", str(config), env=env)
    assert started.returncode == 2 and "Traceback" not in started.stderr
    assert started.stderr.startswith(
        f"pos: the journal {journal} has no numbered orders, but this till has already given "
        "order number 1-0002")
    assert "-wal" in started.stderr and "pos journal check" in started.stderr
    assert journal.read_bytes() == before
    check = pos("--config", str(config), "journal", "check", env=env)
    assert check.returncode == 1 and "PROBLEM: the journal" in check.stdout and "journal NOT OK" in check.stdout

    # the backup put back: the till starts and goes on at 1-0003
    journal.unlink()
    shutil.copyfile(copy, journal)
    assert Journal(journal, "test-outlet", "1").next_number() == 3


def test_a_journal_behind_the_last_number_is_refused_in_process(till_factory: Callable[..., Till]) -> None:
    till = till_factory()
    path = till.journal.path
    plain = path.with_name("plain.sqlite")
    till.scan(CROISSANT)
    assert asyncio.run(till.pay_card(till.parse_amount("2.50"))).closed is not None
    shutil.copyfile(path, plain)  # before the -wal is folded in: no sale in it
    till.scan(CROISSANT)
    assert asyncio.run(till.pay_card(till.parse_amount("2.50"))).closed is not None
    till.journal.close()
    shutil.copyfile(plain, path)
    with pytest.raises(JournalBehindError) as info:
        Journal(path, "test-outlet", "1")
    assert (info.value.journal_number, info.value.known_number) == (0, 2)
    assert "has no numbered orders, but this till has already given order number 1-0002" in str(info.value)


def test_check_reports_unprinted_receipts_and_open_provider_operations(
    till_factory: Callable[..., Till], write_config: Callable[..., Path],
) -> None:
    till = till_factory()
    till.scan(CROISSANT)
    asyncio.run(till.pay_card(till.parse_amount("2.50")))
    till.journal.mark_print_failed(till.journal.unprinted_receipts()[0].id, "paper out")
    till.journal.begin_op(provider="eguma", operation="authorize", code="L4FU5LQTKJR3", currency="CHF",
                          amount=Money(500, "CHF"),
                          order_id=till.order_id)
    result = pos("--config", str(write_config()), "journal", "check")
    assert result.returncode == 0, result.stdout
    assert "receipts not printed: 1" in result.stdout
    assert re.search(r"open provider operations: 1\n  #1 eguma authorize …KJR3 CHF 5\.00, sent .*, sent", result.stdout)
    assert "L4FU5LQTKJR3" not in result.stdout


def test_check_and_backup_of_a_damaged_or_missing_journal_fail(
    write_config: Callable[..., Path], tmp_path: Path,
) -> None:
    config = write_config()
    journal = load_config(config).journal_path()
    missing = pos("--config", str(config), "journal", "check")
    assert missing.returncode == 1 and f"PROBLEM: there is no journal at {journal}" in missing.stdout
    Journal(journal, "test-outlet", "1").close()
    data = bytearray(journal.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    journal.write_bytes(bytes(data))
    damaged = pos("--config", str(config), "journal", "check")
    assert damaged.returncode == 1 and "PROBLEM:" in damaged.stdout and "journal NOT OK" in damaged.stdout
    backup = pos("--config", str(config), "journal", "backup", str(tmp_path / "b.sqlite"))
    assert backup.returncode == 1 and backup.stderr.startswith("pos journal: ") and "Traceback" not in backup.stderr
    assert not (tmp_path / "b.sqlite").exists() and not (tmp_path / "b.sqlite.partial").exists()


def test_a_backup_never_overwrites_a_file(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    Journal(load_config(config).journal_path(), "test-outlet", "1").close()
    taken = tmp_path / "taken.sqlite"
    taken.write_bytes(b"yesterday")
    result = pos("--config", str(config), "journal", "backup", str(taken))
    assert result.returncode == 1 and f"pos journal: {taken} already exists" in result.stderr
    assert taken.read_bytes() == b"yesterday"


# -- a full disk, a read-only journal, an unwritable log ---------------------------------------------
def test_a_full_disk_is_a_typed_error_and_loses_nothing(till: Till) -> None:
    till.scan(ESPRESSO)
    journal = till.journal
    journal._db.execute(f"PRAGMA max_page_count={journal.pragma('page_count')}")  # no page more
    added = 1
    with pytest.raises(JournalWriteError) as info:
        for _ in range(500):
            till.scan(CROISSANT)
            added += 1
    error = info.value
    assert error.reason == "full" and isinstance(error, JournalError)
    assert str(error).startswith("the journal cannot be written: the disk is full. The last step was not "
                                 "saved; everything saved before it is kept. Free space on the disk that holds")
    assert error.__cause__ is None and error.__suppress_context__
    assert len(till.reload().active_lines) == added  # nothing saved is lost, nothing half-saved
    journal._db.execute("PRAGMA max_page_count=1073741823")  # space again: the till goes on
    till.scan(CROISSANT)
    assert len(till.reload().active_lines) == added + 1


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_the_real_till_stays_up_when_the_journal_cannot_be_written(
    outside: Path, write_config: Callable[..., Path],
) -> None:
    """The real till in a terminal; its journal cannot grow any more (a file size limit
    set from outside: every write fails as on a full disk). The scan is refused with
    the message, the till stays up, and once there is room again it goes on."""
    journal = outside / "j.sqlite"
    config = config_in(outside, write_config, f'[journal]\npath = "{journal}"\n')
    app = App(config, env_for(outside))
    try:
        app.wait(lambda: app.shows("Ready") and count(journal, "SELECT COUNT(*) FROM orders") == 1, "start")
        app.keys(f"{ESPRESSO}\r")
        app.wait(lambda: count(journal, "SELECT COUNT(*) FROM lines") == 1, "the first line")
        time.sleep(0.5)
        wal = Path(f"{journal}-wal")
        _, hard = resource.prlimit(app.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(app.proc.pid, resource.RLIMIT_FSIZE, (wal.stat().st_size, hard))
        mark = len(app.screen)
        app.keys(f"{CROISSANT}\r")
        app.wait(lambda: b"cannot be written" in app.screen[mark:], "the message")
        time.sleep(0.5)
        assert app.proc.poll() is None, "the till must stay up"
        assert count(journal, "SELECT COUNT(*) FROM lines") == 1
        resource.prlimit(app.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))
        app.keys(f"{MERLOT}\r")
        app.wait(lambda: count(journal, "SELECT COUNT(*) FROM lines") == 2, "the next scan")
        shown = app.text(mark)
    finally:
        code = app.quit()
    assert "Traceback" not in shown and code == 0
    assert "the journal cannot be written" in re.sub(r"\s+", " ", shown)
    with sqlite3.connect(journal) as conn:
        assert [r[0] for r in conn.execute("SELECT ean FROM lines ORDER BY id")] == [ESPRESSO, MERLOT]


@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_read_only_journal_is_said_to_be_so_not_damaged(
    outside: Path, write_config: Callable[..., Path], what: str,
) -> None:
    folder = outside / "journal"
    journal = folder / "journal.sqlite"
    Journal(journal, "test-outlet", "1").close()
    config = config_in(outside, write_config, f'[journal]\npath = "{journal}"\n')
    give_away(outside)
    (folder if what == "folder" else journal).chmod(0o500 if what == "folder" else 0o400)
    before = journal.read_bytes()
    result = pos("--config", str(config), env=env_for(outside), **as_other_user())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "is damaged (" not in result.stderr and "contact support" not in result.stderr
    expected = (f"pos: the journal's folder {folder} is read-only for the till's user" if what == "folder"
                else f"pos: the journal file {journal} is read-only for the till's user")
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[0]]
    assert result.stderr.startswith(expected), result.stderr
    assert "Make it writable" in result.stderr or "Make the folder writable" in result.stderr
    assert journal.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["journal.sqlite"]


def test_an_unwritable_log_is_said_once_and_the_till_runs(
    outside: Path, write_config: Callable[..., Path],
) -> None:
    config = config_in(outside, write_config)
    data = outside / "data" / "test-outlet"
    data.mkdir(parents=True)
    (data / "pos.log").write_text("old\n", encoding="utf-8")
    give_away(outside)
    (data / "pos.log").chmod(0o400)
    journal = data / "journal-till-1.sqlite"
    app = App(config, env_for(outside), **as_other_user())
    try:
        app.wait(lambda: app.shows("Ready") and count(journal, "SELECT COUNT(*) FROM orders") == 1, "start")
        app.keys(f"{CROISSANT}\r")
        app.wait(lambda: count(journal, "SELECT COUNT(*) FROM lines") == 1, "the line")
        shown = app.text()
    finally:
        code = app.quit()
    assert code == 0
    said = f"pos: the log {data / 'pos.log'} cannot be written (Permission denied); the till runs without a log"
    assert re.sub(r"\s+", " ", shown).count(said) == 1, shown[:2000]
    assert "Traceback" not in shown and "Logging error" not in shown
    assert (data / "pos.log").read_text(encoding="utf-8") == "old\n"
