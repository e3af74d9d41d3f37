"""The till's own files are private: files 0600, folders 0700, whatever the umask.

The journal (and its ``-wal``/``-shm``), ``pos.log``, ``printer.bin``, the
last-number file and backups hold full voucher codes, sold gift voucher
codes and redeem tokens. Every place that creates one of them goes through
here; files and folders found too open at start are tightened.

Standard library only: the journal, backups and the command line use it (the
file printer in ``drivers`` opens its file 0600 the same way).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pos_app.i18n import _

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "PRIVATE_UMASK",
    "PrivateLogHandler",
    "make_private_dir",
    "open_private",
    "setup_log_file",
    "tighten",
    "write_private_atomic",
]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077


def tighten(path: Path) -> None:
    """Remove group and other permissions from an existing file or folder of ours.

    Devices, FIFOs and things owned by someone else are left alone, and so is
    anything that cannot be changed (a write to it reports what is wrong).
    """
    try:
        st = os.stat(path)
    except OSError:
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return
    if stat.S_IMODE(st.st_mode) & 0o077:
        try:
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
        except OSError:
            pass


def make_private_dir(folder: Path, *, tighten_existing: bool = True) -> None:
    """Create ``folder`` (and missing parents) 0700; with ``tighten_existing`` also
    tighten it when it is there and too open (the till's own data folder, not a
    folder the shop named for the journal).

    Raises OSError when it cannot be created.
    """
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for created in missing:  # mkdir's mode is filtered by the umask: say it again
        try:
            os.chmod(created, PRIVATE_DIR)
        except OSError:
            pass
    if tighten_existing:
        tighten(folder)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with ``O_CREAT``, a new file being 0600 whatever the umask; an
    existing file of ours that is too open is tightened."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    if os.name != "posix":
        return fd
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
            os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        pass
    return fd


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` (0600) so that a crash leaves the old or the new
    content, never a mix; flushed to disk (file and folder) before it returns."""
    temp = path.with_name(path.name + ".new")
    fd = open_private(temp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    if os.name == "posix":
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class PrivateLogHandler(logging.FileHandler):
    """``pos.log``: created 0600, appended to. When it cannot be written any more
    (disk full, folder removed) it goes quiet, instead of printing a traceback per
    record into the till's screen (logging's default)."""

    def __init__(self, path: Path) -> None:
        self.failed = False
        super().__init__(path, mode="a", encoding="utf-8", delay=False)

    def _open(self) -> TextIO:  # logging's hook
        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.failed = True


_OURS = "_pos_log_handler"  # marks the handler setup_log_file added


class _CleaningFormatter(logging.Formatter):
    """Passes every formatted record, its traceback included, through ``clean``."""

    def __init__(self, fmt: str, clean: Callable[[str], str]) -> None:
        super().__init__(fmt)
        self._clean = clean

    def format(self, record: logging.LogRecord) -> str:
        return self._clean(super().format(record))


def setup_log_file(folder: Path, *, clean: Callable[[str], str] | None = None,
                   level: int = logging.INFO) -> str | None:
    """Log to ``folder/pos.log`` (0600, folder 0700); each line, tracebacks included,
    passed through ``clean`` (redaction) before it is written.

    Returns None, or — when the log cannot be opened — a one-line message for
    stderr; then nothing is logged at all (and nothing falls back to printing
    on the screen)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:  # set up again: replaced
        root.removeHandler(old)
        old.close()
    path = folder / "pos.log"
    try:
        make_private_dir(folder)
        handler: logging.Handler = PrivateLogHandler(path)
    except OSError as exc:
        handler = logging.NullHandler()  # no "last resort" output on the screen either
        setattr(handler, _OURS, True)
        root.addHandler(handler)
        root.setLevel(level)
        why = exc.strerror or type(exc).__name__
        return _("the log {path} cannot be written ({problem}); the till runs without a log. Make it and its "
                 "folder writable for the till's user to have one again").format(path=path, problem=why)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(_CleaningFormatter(fmt, clean) if clean else logging.Formatter(fmt))
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)
    return None
