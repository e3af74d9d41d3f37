"""A real PostgreSQL server for the tests, started from the machine's binaries.

``initdb`` a cluster in a temporary folder (trust authentication, user
``pos``), ``pg_ctl start`` it on 127.0.0.1 and a free port, stop it at the
end. The binaries are looked for in $POS_PG_BINDIR, ``pg_config --bindir``,
/usr/lib/postgresql/*/bin and the PATH; without them the tests that need a
server are skipped, naming the package to install (Debian: ``postgresql``).

PostgreSQL refuses to run as root: as root the cluster belongs to the
``postgres`` user (Debian's package creates it), else to ``nobody``, and the
commands run through ``runuser -u USER --``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PASSWORD_ROLE = "pos_pw"
SKIP_REASON = ("no PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's `postgresql` package "
               "(apt install postgresql) or set POS_PG_BINDIR to run the PostgreSQL journal tests")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "(Z)"


def find_bindir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``, or None."""
    candidates: list[Path] = []
    if os.environ.get("POS_PG_BINDIR"):
        candidates.append(Path(os.environ["POS_PG_BINDIR"]))
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    user: str | None  # the system user the server runs as (None: ours)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://pos@127.0.0.1:{self.port}/{db}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(self._cmd(*args), check=True, capture_output=True, timeout=timeout, cwd="/")

    def init(self) -> None:
        self.run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "pos", "--auth=trust", "-E", "UTF8",
                 "--no-sync", "--locale=C")
        # Trust, except for the role PASSWORD_ROLE, which must give its password (the keyring tests).
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"local all all trust\nhost all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
                       "host all all 127.0.0.1/32 trust\n", encoding="utf-8")

    def password_url(self, db: str, password: str) -> str:
        """The URL of the role PASSWORD_ROLE (created with ``password``) for database ``db``."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
            conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD '{password}'")
        return f"postgresql://{PASSWORD_ROLE}@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                   "-c max_connections=60 -c shared_buffers=32MB")
        for attempt in range(4):  # after a kill the port or shared memory may take a moment to be free
            try:
                self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                         str(self.root / "log"), "-w", "-t", "60", "start")
                return
            except subprocess.CalledProcessError:
                if attempt == 3:
                    log = (self.root / "log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the test PostgreSQL server did not start:\n{log}") from None
                time.sleep(1.0)

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def kill(self) -> None:
        """The server dies at once (SIGKILL of the postmaster and its children); returns
        once they are all gone (a new server would find their shared memory in use)."""
        pids = self._pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{pid}").exists() and "(Z)" not in _state(pid) for pid in pids) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            (self.data / "postmaster.pid").unlink()

    def _pids(self) -> list[int]:
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                                  check=False).stdout.split()
        return [pid, *map(int, children)]

    def pause(self) -> None:
        """The server hangs (SIGSTOP): connected, its kernel acknowledging, nothing answered."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)

    def create_db(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        raise LookupError(SKIP_REASON)
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
    root = Path(tempfile.mkdtemp(prefix="pos-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        root.chmod(0o700)
    server = PgServer(bindir, root, free_port(), user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
