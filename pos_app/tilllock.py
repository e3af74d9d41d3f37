"""One till per journal: an operating-system lock on ``<journal>.lock``.

Two tills on one journal would both write the same open order (and hang
on each other's transactions). ``pos`` takes an exclusive ``flock`` on a
lock file next to the journal before it opens the journal and holds it
for as long as it runs; the lock file says who holds it (PID, start time).
The operating system drops the lock when the process ends, however it
ends (a crash, ``kill -9``, a power cut), so there is never a stale lock
to remove by hand. The file itself stays (deleting it would race with the
next till locking it).

Windows is not supported: there the lock does nothing (imports fine).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pos_app.i18n import _

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class TillBusy(Exception):
    """Another process holds the journal's lock; the message names it."""


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


class TillLock:
    """Held from :meth:`acquire` until :meth:`release` or the end of the process."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.path = lock_path(journal)
        self._fd: int | None = None

    def acquire(self) -> TillLock:
        """Take the lock at once or raise TillBusy naming the holder; OSError if the
        lock file cannot be made (a folder without write access)."""
        if fcntl is None:  # pragma: no cover - Windows
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise TillBusy(
                _('another till ({holder}) is already using the journal {journal} — use that one, or close it (Ctrl+Q) first; if it hangs, stop that process').format(holder=holder, journal=self.journal)) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid={os.getpid()} started={stamp}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> TillLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    """``PID 1234, started 2026-05-10 08:01:02`` from the holder's lock file."""
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace")
    except OSError:
        text = ""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    pid = fields.get("pid", _("unknown"))
    started = text.split("started=", 1)[1].strip() if "started=" in text else ""
    return _("PID {pid}, started {started}").format(pid=pid, started=started) if started else \
        _("PID {pid}").format(pid=pid)
