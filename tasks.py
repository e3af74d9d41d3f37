#!/usr/bin/env python3
"""Set-up and everyday commands for the till. Needs only Python 3.11+.

    python3 tasks.py demo     start the till in demo mode (built-in simulators)
    python3 tasks.py demo-za  the South African demo (ZAR, Celbux)
    python3 tasks.py test     run the whole test suite (in 3 processes; -n 0: in one)
    python3 tasks.py soak     the slow randomized soak tests
    python3 tasks.py bench    benchmarks that print figures
    python3 tasks.py i18n     extract the texts, update and compile the catalogs
    python3 tasks.py pos ...  any `pos` command, e.g. `tasks.py pos --config my.toml`

Each command first makes sure `.venv/` exists and holds the dependencies of
pyproject.toml (re-installed when pyproject.toml changes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"
# The whole suite in this many pytest-xdist workers (POS_TEST_WORKERS, or -n, overrides it;
# -n 0 runs it in one process): measured on 2 cores, 18:40 in one process, 7:08 in 3.
TEST_WORKERS = "3"


def say(text: str) -> None:
    print(f"tasks: {text}", file=sys.stderr, flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"tasks: Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        say(f"creating the virtual environment in {VENV}")
        try:
            venv.create(VENV, with_pip=True, clear=True)
        except subprocess.CalledProcessError:
            sys.exit("tasks: could not create a virtual environment; on Debian/Ubuntu install "
                     "python3-venv (apt install python3-venv) and try again")
    say("installing the till and its dependencies (first run only; needs PyPI)")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    quiet_ci = ["--progress-bar", "off"] if os.environ.get("CI") else []
    subprocess.run([*pip, "install", *quiet_ci, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", *quiet_ci, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def run(*args: str) -> int:
    ensure_venv()
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return run("-m", "pos_app", "--config", str(ROOT / "config" / "demo.toml"), *rest)
    if command == "demo-za":  # the South African demo: ZAR, Celbux
        return run("-m", "pos_app", "--config", str(ROOT / "config" / "demo-za.toml"), *rest)
    if command == "pos":
        return run("-m", "pos_app", *rest)
    if command == "test":  # in TEST_WORKERS processes (pytest-xdist): most tests wait on sockets, not the CPU
        workers = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in rest) else [
            "-n", os.environ.get("POS_TEST_WORKERS", TEST_WORKERS)]
        return run("-m", "pytest", *workers, *rest)
    if command == "soak":
        return run("-m", "pytest", "-m", "slow", "-s", *rest)
    if command == "bench":
        benches = sorted(str(p) for p in (ROOT / "tests" / "bench").glob("bench_*.py"))
        code = 0
        for bench in benches:
            code |= run(bench, *rest)
        return code
    if command == "i18n":
        code = "from pos_app.i18n_catalogs import update, compile_all\n" \
               "missing = update(); compile_all()\n" \
               "print('catalogs updated; messages without a translation: ' + " \
               "(', '.join(f'{k} {v}' for k, v in missing.items())))\n" \
               "raise SystemExit(1 if any(missing.values()) else 0)"
        return run("-c", code)
    print(f"tasks: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        sys.exit(f"tasks: {' '.join(map(str, exc.cmd))} failed with exit code {exc.returncode}")
    except KeyboardInterrupt:
        sys.exit(130)
