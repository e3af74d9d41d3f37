"""The benchmark (``python3 tasks.py bench``) cannot rot: its quick run completes and
prints every row of its table with a figure.

No timing is asserted (timed asserts flake); whether a target is met is the
benchmark's to say, not this test's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.bench.bench_till import ROWS

ROOT = Path(__file__).resolve().parents[1]


def table(stdout: str) -> dict[str, list[str]]:
    """The table's rows, by their first cell."""
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("| ") and line.endswith(" |"):
            cells = [cell.strip() for cell in line[2:-2].split(" | ")]
            rows[cells[0]] = cells
    return rows


def test_quick_run_prints_every_row_of_the_table_with_a_number() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_till.py"), "--quick"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = table(proc.stdout)
    for label in ROWS:
        assert label in rows, f"row {label!r} missing from:\n{proc.stdout}"
        measure, figure, target, met = rows[label]
        assert re.search(r"\d", figure), f"{label}: no number in {figure!r}"
        assert re.search(r"\d", target), f"{label}: no target in {target!r}"
        assert met in ("yes", "NO"), f"{label}: met? is {met!r}"
    assert len(rows) == len(ROWS) + 1  # and the header


def test_jtl_bench_quick_run_prints_its_rows() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_jtl.py"), "--quick"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = table(proc.stdout)
    from tests.bench.bench_jtl import ROWS as JTL_ROWS

    for label in JTL_ROWS:
        assert label in rows, f"row {label!r} missing from:\n{proc.stdout}"
        assert re.search(r"\d", rows[label][1]), f"{label}: no number in {rows[label][1]!r}"
    assert rows[JTL_ROWS[0]][1] == "1 in 10 payments"  # one token, reused


def test_reports_bench_quick_run_prints_its_rows() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_reports.py"), "--quick"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = table(proc.stdout)
    from tests.bench.bench_reports import ROWS as REPORT_ROWS

    for label in REPORT_ROWS:
        assert label in rows, f"row {label!r} missing from:\n{proc.stdout}"
        measure, figure, target, met = rows[label]
        assert re.search(r"\d+ ms", figure) and target == "300 ms" and met in ("yes", "NO")
    assert "re-derived from the orders' own rows (the cross-check): the same" in proc.stdout


def test_pg_bench_quick_run_prints_its_rows() -> None:
    """The PostgreSQL journal's benchmark (it starts its own server; skipped without one)."""
    from tests.bench.bench_pg import CLOSE, FORWARD, STOREZ, ZREPORT
    from tests.pgserver import SKIP_REASON, find_bindir

    if find_bindir() is None:
        import pytest

        pytest.skip(SKIP_REASON)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_pg.py"), "--quick"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = table(proc.stdout)
    for label in (FORWARD.format(n="500"), CLOSE, ZREPORT.format(n="1,000"), STOREZ.format(n="1,000")):
        assert label in rows, f"row {label!r} missing from:\n{proc.stdout}"
        assert re.search(r"\d", rows[label][1]), f"{label}: no number in {rows[label][1]!r}"
