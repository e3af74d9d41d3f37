"""The layer rules of DESIGN.md, enforced: import-linter contracts, and a
subprocess check that the headless core runs without loading Textual."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pos_app.config import PROJECT_ROOT


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(exe), "--config", str(PROJECT_ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


def test_core_runs_without_textual() -> None:
    code = (
        "import sys\n"
        "import pos_app.services.setup, pos_app.services.checkout, pos_app.journal, pos_app.receipts\n"
        "import drivers.printer\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual',))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
