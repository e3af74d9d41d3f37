"""What the benchmarks share: outlet configs, key events sent straight to the app,
memory readings from /proc, and small statistics.

Nothing here imports Textual or the till at import time: the start-up
benchmarks import this module too, and must not pay for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Demo catalog barcodes (config/demo_catalog.toml).
ESPRESSO = "7610000000011"  # 14.90
CROISSANT = "7610000000028"  # 2.50
MERLOT = "7610000000035"  # 38.00
CHOCOLATE = "7610000000042"  # 3.95
SALE_CODES = (ESPRESSO, CROISSANT, CHOCOLATE)  # the 3-line cash sale of the memory run
VOUCHER = "L4FU5LQTKJR3"  # balance 50.00 in the simulator's demo data
SIZE = (100, 30)  # the terminal size of every run (headless and pty)

CONFIG = """\
receipts = "{receipts}"

[outlet]
id = "bench"
name = "Bench"
till = "1"
currency = "CHF"

[catalog]
path = "{catalog}"

[providers.eguma]
base_url = "{base_url}"
timeout_s = 5

[scanner]
# Keys sent straight to the app come faster than any scanner: as in the tests,
# the Enter suffix alone ends a scan (no burst timing that could swallow F3).
max_gap_ms = 0

[printer]
kind = "dummy"
{journal}"""


def write_config(folder: Path, base_url: str = "sim://eguma", journal: Path | None = None,
                 name: str = "bench.toml") -> Path:
    """An outlet configuration like the tests': demo catalog, dummy printer, E-GUMA at ``base_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    section = f'\n[journal]\npath = "{journal.as_posix()}"\n' if journal is not None else ""
    path.write_text(CONFIG.format(receipts=(ROOT / "receipts").as_posix(),
                                  catalog=(ROOT / "config" / "demo_catalog.toml").as_posix(),
                                  base_url=base_url, journal=section), encoding="utf-8")
    return path


# -- memory ---------------------------------------------------------------------
def proc_status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mib() -> float:
    return proc_status_mib("VmRSS")


def peak_mib() -> float:
    return proc_status_mib("VmHWM")


# -- statistics -----------------------------------------------------------------
def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def emit(result: dict[str, Any]) -> None:
    """A child process's result: one JSON line on stdout, after anything else."""
    sys.stdout.write("\n@@RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("@@RESULT "):
            return json.loads(line[len("@@RESULT "):])
    raise RuntimeError("the child printed no result:\n" + stdout[-2000:])


# -- driving the app with key events sent straight to it --------------------------
_NAMED = {"enter": "\r", "escape": "\x1b", "tab": "\t", "backspace": "\x08"}


def key_event(key: str) -> Any:
    """The ``events.Key`` a terminal driver would post for ``key`` (``"7"``, ``"*"``,
    ``"enter"``, ``"f3"``)."""
    from textual import events
    from textual.keys import _character_to_key

    if len(key) == 1:
        name = key if key.isalnum() else _character_to_key(key)
        return events.Key(name, key)
    return events.Key(key, _NAMED.get(key))


class KeyDriver:
    """Sends key events straight to a running app and waits only for what they do.

    No Pilot: ``keys()`` posts the events to the app's queue, in order (as the
    terminal driver does), without any sleep; ``until()`` returns as soon as a
    condition on the till or the screen holds; ``painted()`` returns after the
    active screen's next refresh (the change is drawn), via
    ``call_after_refresh``. The condition is polled on the app's own event loop,
    yielding after every check (the first 50 checks with ``sleep(0)``, then
    every 0.2 ms, so a worker thread still gets the interpreter).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def keys(self, *keys: str) -> None:
        app = self.app
        for key in keys:
            event = key_event(key)
            event.set_sender(app)
            app.post_message(event)

    def type(self, text: str, *then: str) -> None:
        self.keys(*text, *then)

    async def until(self, condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
        deadline = time.perf_counter() + timeout_s
        spins = 0
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not reached within {timeout_s} s: {what or condition}")
            if self.app._exception is not None:  # the app died: say why instead of timing out
                raise RuntimeError("the app failed") from self.app._exception
            spins += 1
            await asyncio.sleep(0 if spins < 50 else 0.0002)

    async def painted(self, timeout_s: float = 20.0) -> None:
        """Everything changed so far is drawn: every widget of the active screen has
        handled its messages (a DataTable measures new rows when idle, then asks for
        a refresh), then the screen's next refresh has run (``call_after_refresh``),
        and nothing was left to lay out or paint; else once more."""
        screen = self.app.screen
        for _ in range(20):
            await self.until(lambda: self._idle(screen), timeout_s, "the screen's widgets idle")
            await self._after_refresh(screen, timeout_s)
            if self._idle(screen) and not self._dirty(screen):
                return
        raise TimeoutError("the screen kept changing for 20 frames")

    async def _after_refresh(self, screen: Any, timeout_s: float) -> None:
        done = asyncio.get_running_loop().create_future()

        def mark() -> None:
            if not done.done():
                done.set_result(None)

        screen.call_after_refresh(mark)
        await asyncio.wait_for(done, timeout_s)

    def _idle(self, screen: Any) -> bool:
        """No message waits in the queue of the app, the screen or any of its widgets."""
        for node in (self.app, screen, *screen.walk_children()):
            queue = getattr(node, "_message_queue", None)
            if queue is not None and not queue.empty():
                return False
        return True

    @staticmethod
    def _dirty(screen: Any) -> bool:
        """Textual's screen still has a layout or repaint to do (its update timer's flags)."""
        return bool(getattr(screen, "_layout_required", False) or getattr(screen, "_repaint_required", False)
                    or getattr(screen, "_dirty_widgets", None))

    def busy_workers(self) -> int:
        return sum(1 for worker in self.app.workers if not worker.is_finished)

    async def workers_done(self, timeout_s: float = 20.0) -> None:
        await self.until(lambda: self.busy_workers() == 0, timeout_s, "background workers finished")


class Frames:
    """The frames the app writes to its terminal, with the time each was written.

    Wraps ``App._display`` (where Textual hands a frame, full or partial, to its
    driver) and only keeps the renderable while ``recording``; what a frame
    shows is worked out afterwards (``first_showing``), outside the timed path."""

    def __init__(self, app: Any) -> None:
        self.frames: list[tuple[float, Any, Any]] = []
        self.recording = False
        display = app._display

        def recorded(screen: Any, renderable: Any) -> None:
            if self.recording and renderable is not None:
                self.frames.append((time.perf_counter(), screen, renderable))
            display(screen, renderable)

        app._display = recorded

    def start(self) -> None:
        self.frames.clear()
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    @staticmethod
    def text(renderable: Any) -> str:
        import io

        from rich.console import Console

        out = io.StringIO()
        console = Console(file=out, width=SIZE[0], height=SIZE[1], color_system=None, force_terminal=True,
                          legacy_windows=False)
        console.print(renderable, end="")
        return out.getvalue()

    def first_showing(self, screen: Any, pattern: str) -> float | None:
        """When the first frame of ``screen`` whose text matches ``pattern`` (a regular
        expression) was written; None if none did."""
        import re

        wanted = re.compile(pattern)
        for at, shown, renderable in self.frames:
            if shown is screen and wanted.search(self.text(renderable)):
                return at
        return None


def table_rows(screen: Any, selector: str) -> int | None:
    """Rows of the DataTable ``selector`` on ``screen``; None if the screen has no such
    table (the screens are being reworked: the till's state is checked as well)."""
    try:
        return int(screen.query_one(selector).row_count)
    except Exception:  # noqa: BLE001 - any lookup failure means "not there"
        return None


def now() -> float:
    return time.perf_counter()


def env_for_children(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["POS_DATA_DIR"] = str(data_dir)
    env.pop("POS_CONFIG", None)
    env.pop("POS_CRASH_AT", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
