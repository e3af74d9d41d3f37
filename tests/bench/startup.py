"""Start-up: the real ``pos`` and the bare Textual app, each started in a pty as a
cashier starts it, timed from just before the fork to

* "ready": ``Ready`` drawn on the screen (the checkout's status line), and
* "first scan": a barcode typed into the terminal (as a keyboard-wedge scanner
  types it, the moment "Ready" shows) drawn as an order line.

Wall time from the parent's clock; CPU time (user + system) of the child from
``/proc/<pid>/stat`` at the same moments. The child is then quit with Ctrl+Q.

``importtime_run`` starts the real ``pos`` the same way under ``python -X
importtime``, with the import log split from the screen (see
``stderr_split.py``), and cuts the log at "Ready".
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.common import BENCH, ESPRESSO, SIZE

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
READY = (b"Ready", b"recovered from the journal")  # the checkout's first status line
SHOWN = b"Espresso"  # the first scan's line: "Espresso beans 500 g"


def pos_command(config: Path) -> list[str]:
    """The installed console script ``pos`` next to this interpreter, else ``-m pos_app``."""
    script = Path(sys.executable).with_name("pos")
    if script.exists():
        return [str(script), "--config", str(config)]
    return [sys.executable, "-m", "pos_app", "--config", str(config)]


def bare_command() -> list[str]:
    return [sys.executable, str(BENCH / "bare_app.py")]


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime, stime (fields 14, 15)


@dataclass
class StartRun:
    ready: float | None = None  # wall seconds from the fork
    ready_cpu: float | None = None
    scan: float | None = None
    scan_cpu: float | None = None
    output: bytes = b""
    events: dict[str, int] = field(default_factory=dict)  # marker -> bytes of output when seen
    error: str | None = None


def run_in_pty(argv: list[str], env: dict[str, str], timeout_s: float = 30.0,
               on_ready=None) -> StartRun:
    """Start ``argv`` on a new pty of SIZE; type a scan at "Ready"; stop at the line."""
    run = StartRun()
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        try:
            columns, rows = SIZE
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    buffer = bytearray()
    try:
        while time.perf_counter() - start < timeout_s:
            readable, _, _ = select.select([fd], [], [], 0.01)
            if readable:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
            if run.ready is None and any(marker in buffer for marker in READY):
                run.ready = time.perf_counter() - start
                run.ready_cpu = cpu_seconds(pid)
                run.events["ready"] = len(buffer)
                if on_ready is not None:
                    on_ready()
                os.write(fd, ESPRESSO.encode() + b"\r")
            elif run.ready is not None and run.scan is None and SHOWN in buffer[run.events["ready"]:]:
                run.scan = time.perf_counter() - start
                run.scan_cpu = cpu_seconds(pid)
                os.write(fd, b"\x11")  # Ctrl+Q
                break
        else:
            run.error = f"timed out after {timeout_s} s"
        if run.scan is None and run.error is None:
            run.error = "the program ended before the first scan showed"
        _finish(pid, fd, buffer)
    finally:
        os.close(fd)
    run.output = bytes(buffer)
    return run


def _finish(pid: int, fd: int, buffer: bytearray, grace_s: float = 5.0) -> None:
    """Wait for the child to quit (reading its screen meanwhile), else kill it."""
    deadline = time.perf_counter() + grace_s
    while time.perf_counter() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        readable, _, _ = select.select([fd], [], [], 0.02)
        if readable:
            try:
                buffer += os.read(fd, 65536)
            except OSError:
                pass
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


# -- python -X importtime ----------------------------------------------------------
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


@dataclass
class ImportTimes:
    ready: float | None
    total_self_s: float  # every import up to "Ready", self times summed
    by_package: list[tuple[str, float]]  # (top-level package, summed self seconds), largest first
    by_module: list[tuple[str, float]]  # (module, self seconds), largest first
    top_level: list[tuple[str, float]]  # imports not nested in another, (name, cumulative seconds)
    error: str | None = None


def parse_importtime(text: str) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) for each ``import time:`` line."""
    rows = []
    for match in LINE.finditer(text):
        self_us, cumulative_us, indent, name = match.groups()
        rows.append((name, int(self_us), int(cumulative_us), len(indent) // 2))
    return rows


def importtime_run(config: Path | None, env: dict[str, str], log: Path) -> ImportTimes:
    """The real start (``config`` None: the bare app) under ``-X importtime``, imports
    up to "Ready" only."""
    args = ["--config", str(config)] if config is not None else ["--bare"]
    argv = [sys.executable, "-X", "importtime", str(BENCH / "stderr_split.py"), *args]
    env = dict(env, BENCH_IMPORT_LOG=str(log))
    cut: list[int] = []
    run = run_in_pty(argv, env, on_ready=lambda: cut.append(log.stat().st_size if log.exists() else 0))
    if run.ready is None:
        return ImportTimes(None, 0.0, [], [], [], error=run.error or "no Ready")
    # Imports before the split (the interpreter's own start) went to the pty.
    early = run.output[: run.events["ready"]].decode("utf-8", "replace")
    text = early + log.read_bytes()[: cut[0]].decode("utf-8", "replace")
    rows = parse_importtime(text)
    packages: dict[str, int] = {}
    for name, self_us, _cumulative, _depth in rows:
        root = name.split(".")[0]
        packages[root] = packages.get(root, 0) + self_us
    total = sum(self_us for _name, self_us, _c, _d in rows)
    return ImportTimes(
        ready=run.ready,
        total_self_s=total / 1e6,
        by_package=sorted(((k, v / 1e6) for k, v in packages.items()), key=lambda kv: -kv[1]),
        by_module=sorted(((n, s / 1e6) for n, s, _c, _d in rows), key=lambda kv: -kv[1]),
        top_level=sorted(((n, c / 1e6) for n, _s, c, d in rows if d == 0), key=lambda kv: -kv[1]),
    )
