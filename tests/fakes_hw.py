"""Fake hardware for the driver tests: pseudo-terminals and loopback TCP printers."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass

PAPER_QUERY = b"\x10\x04\x04"


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Pty:
    """A serial "device": the driver opens ``path``, the test plays the device on the master.

    The test keeps its own slave descriptor open (in raw mode), so the pty
    lives on while the driver opens and closes its port.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        self.closed = False

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_all(self, quiet_s: float = 0.2, limit_s: float = 5.0) -> bytes:
        """What the driver wrote, until nothing more comes for ``quiet_s``."""
        out = bytearray()
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], quiet_s)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> None:
        """Unplug: both ends go away."""
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self.slave)


class FakeSerialPrinter(threading.Thread):
    """Plays an ESC/POS printer on a pty: records bytes, answers DLE EOT 4 with ``status``.

    ``status=None`` never answers (a printer that is off or stuck).
    """

    def __init__(self, pty: Pty, status: int | None = 0x12) -> None:
        super().__init__(daemon=True)
        self.pty = pty
        self.status = status
        self.received = bytearray()
        self.queries = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            ready, _, _ = select.select([self.pty.master], [], [], 0.02)
            if not ready:
                continue
            try:
                chunk = os.read(self.pty.master, 65536)
            except OSError:
                return
            self.received += chunk
            while PAPER_QUERY in self.received:
                index = self.received.index(PAPER_QUERY)
                del self.received[index:index + len(PAPER_QUERY)]
                self.queries += 1
                if self.status is not None:
                    os.write(self.pty.master, bytes([self.status]))

    def stop(self) -> None:
        self._halt.set()
        self.join(2)


class TcpPrinter(threading.Thread):
    """A printer on a loopback port.

    ``mode``: ``"good"`` reads each connection to its end and keeps the bytes,
    answering DLE EOT 4 with ``status`` (None: never answers); ``"close"``
    accepts and closes at once; ``"hang"`` accepts and never reads, with a
    tiny receive buffer.
    """

    def __init__(self, mode: str = "good", status: int | None = 0x12) -> None:
        super().__init__(daemon=True)
        self.mode = mode
        self.status = status
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "hang":
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.mode == "close":
                conn.close()
            elif self.mode == "hang":
                self._held.append(conn)
            else:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = bytearray()
        conn.settimeout(5)
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
                if data.endswith(PAPER_QUERY) and self.status is not None:
                    conn.sendall(bytes([self.status]))
        with self._lock:
            self.jobs.append(bytes(data))

    def stop(self) -> None:
        self._halt.set()
        self.join(2)
        self.server.close()
        for conn in self._held:
            conn.close()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def read_all(fd: int, into: bytearray) -> None:
    """Collect what a program writes to a terminal (a pty master) until it closes."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into += chunk


@dataclass
class Terminal:
    """The real ``pos`` in a pseudo-terminal (100×30): keys go to ``master``, what it
    draws collects in ``screen``."""

    app: subprocess.Popen[bytes]
    master: int
    screen: bytearray


def start_pos_in_terminal(config_path: Path, **env: str) -> Terminal:
    """Start ``python -m pos_app --config ...`` in a new pty, with extra environment."""
    from pos_app.config import PROJECT_ROOT

    master, slave = os.openpty()
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TERM": "xterm-256color",
                "COLUMNS": "100", "LINES": "30", **env}
    app = subprocess.Popen([sys.executable, "-m", "pos_app", "--config", str(config_path)],
                           stdin=slave, stdout=slave, stderr=slave, env=full_env, close_fds=True,
                           start_new_session=True)
    os.close(slave)
    screen = bytearray()
    threading.Thread(target=read_all, args=(master, screen), daemon=True).start()
    return Terminal(app, master, screen)
