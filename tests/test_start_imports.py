"""What the till imports to draw the checkout, and what it leaves for later.

A real outlet's start (`pos --config shop.toml`: E-GUMA at https, its key in
the keyring, a network printer) runs in a subprocess on a pseudo-terminal,
through ``pos_app.cli.main``; Textual runs headless from there on and the
modules loaded at the first paint are written to a file.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from pos_app.config import PROJECT_ROOT
from tests.keyring_backend import FILE_ENV

# Not needed to draw the checkout of a real outlet.
NOT_AT_START = ["starlette", "uvicorn", "escpos", "click", "pygments", "httpx._main",
                "pos_app.keys_cli", "pos_app.journal_cli", "pos_app.providers_cli", "pos_app.report_cli",
                "pos_app.providers.eguma.simulator", "pos_app.providers.jtl"]

CHILD = """
import json, sys
import textual.app

watch = {watch!r}
seen = {{}}

def loaded():
    return sorted(m for m in watch if sys.modules.get(m) is not None)

def run(self, *args, headless=False, **kwargs):
    async def auto_pilot(pilot):
        seen["at_paint"] = loaded()
        seen["provider_ready"] = all(slot.client is not None for slot in pilot.app.till.providers.values())
        for _ in range(100):  # the first paint, then the background loading it starts
            await pilot.pause(0.05)
            await pilot.app.workers.wait_for_complete()
            if "escpos.printer" in loaded():
                break
        seen["after_paint"] = loaded()
        pilot.app.exit()
    return original(self, headless=True, size=(100, 30), auto_pilot=auto_pilot)

original = textual.app.App.run
textual.app.App.run = run
from pos_app import cli
code = cli.main(sys.argv[2:])
seen["code"] = code
with open(sys.argv[1], "w") as out:
    json.dump(seen, out)
"""


def start_till(tmp_path: Path) -> dict[str, Any]:
    config = tmp_path / "shop.toml"
    config.write_text(textwrap.dedent(f"""\
        receipts = "{(PROJECT_ROOT / 'receipts').as_posix()}"
        [outlet]
        id = "shop"
        name = "Shop"
        till = "1"
        currency = "CHF"
        [catalog]
        path = "{(PROJECT_ROOT / 'config' / 'demo_catalog.toml').as_posix()}"
        [providers.eguma]
        base_url = "https://api.e-guma.ch"
        [printer]
        kind = "network"
        host = "127.0.0.1"
        port = 9
        """), encoding="utf-8")
    keys = tmp_path / "keyring.json"
    keys.write_text(json.dumps({"pos-app shop/eguma/api_key": "k-12345678"}), encoding="utf-8")
    result = tmp_path / "loaded.json"
    script = CHILD.format(watch=[*NOT_AT_START, "httpx", "escpos.printer"])
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TERM": "xterm-256color",
           "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.JsonFileKeyring", FILE_ENV: str(keys),
           "POS_DATA_DIR": str(tmp_path / "data")}
    main, terminal = pty.openpty()  # the till refuses to start without a terminal
    try:
        done = subprocess.run([sys.executable, "-c", script, str(result), "--config", str(config)],
                              stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                              cwd=PROJECT_ROOT, timeout=60)
    finally:
        os.close(terminal)
        os.close(main)
    assert done.returncode == 0 and result.exists()
    seen: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return seen


def test_a_real_outlet_draws_the_checkout_without_what_it_does_not_need(tmp_path: Path) -> None:
    seen = start_till(tmp_path)
    assert seen["code"] == 0
    assert seen["provider_ready"]  # the key was read: E-GUMA is in use, not disabled
    assert "httpx" in seen["at_paint"]  # the provider client is there ...
    assert [m for m in NOT_AT_START if m in seen["at_paint"]] == []  # ... without httpx's CLI
    # Loaded after the first paint, in the background, before the first receipt needs it.
    assert "escpos.printer" in seen["after_paint"]


def test_importing_the_package_reads_no_package_metadata() -> None:
    code = ("import sys, pos_app; assert 'importlib.metadata' not in sys.modules; "
            "print(pos_app.__version__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()  # the version, read when asked


def test_the_tools_are_still_commands(capsys: Any) -> None:
    """`pos --help` and a mistyped command still name `keys` and `journal`, which
    a start of the till no longer imports."""
    from pos_app import cli

    for argv in (["--help"], ["kees"]):
        try:
            cli.main(argv)
        except SystemExit:
            pass
        out = capsys.readouterr()
        assert "keys" in out.out + out.err and "journal" in out.out + out.err
    try:
        cli.main(["keys", "--help"])
    except SystemExit:
        pass
    assert "set" in capsys.readouterr().out
