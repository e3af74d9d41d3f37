"""Randomized soak, per provider: kill the till at random moments, restart, reconcile, check.

Slow (several minutes per provider): `python3 tasks.py soak`. Prints the counts.
SOAK_RUNS (default 200, per provider) and SOAK_SEED choose the size and the
randomness; SOAK_PROVIDER chooses the providers (comma-separated names from
tests/crashkit.py ``KITS``, or ``all``; default all: eguma and fakepay).
SOAK_JOURNAL=postgres runs it with the journal server too ([journal] url, forward
mode, a database per run on the test server): after each run every change the
till journaled must be on the server once, as at the till (issue 18).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pos_app.providers import registry
from tests.crashkit import KITS, CrashKit, SimServer, consistency, recover_and_finish, recover_only, run_child


def providers() -> list[CrashKit]:
    chosen = os.environ.get("SOAK_PROVIDER", "all").strip()
    if chosen in ("", "all"):
        return list(KITS.values())
    unknown = [name for name in chosen.split(",") if name.strip() not in KITS]
    if unknown:
        raise pytest.UsageError(f"SOAK_PROVIDER: unknown {unknown} (known: {', '.join(KITS)})")
    return [KITS[name.strip()] for name in chosen.split(",")]


def points(kit: CrashKit) -> list[str]:
    found = [f"{kind}:{p}" for kind in kit.kinds
             for p in ("before_send", "after_send", "after_response", "undecided")]
    return found + ["close:before_commit", "close:after_commit"]


@pytest.mark.slow
@pytest.mark.parametrize("kit", providers(), ids=lambda kit: kit.name)
async def test_random_kills(kit: CrashKit, write_config: Callable[..., Path], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Each run: a mixed sale killed at a crash point or a random moment; a restart that
    reconciles at once (while the provider may still apply what it holds: nothing may be
    decided "did not happen" wrongly); then, once the provider has applied everything,
    a restart after the settle window that finishes the sale; then ledger against journal.

    A share of the runs is slower than the child's 3 s timeout: the answer comes late
    (latency after applying) or the request itself is applied late (apply_delay_s)."""
    runs = int(os.environ.get("SOAK_RUNS", "200"))
    seed = int(os.environ.get("SOAK_SEED", "20261123"))
    rng = random.Random(seed if kit.name == "eguma" else f"{seed}-{kit.name}")  # E-GUMA's runs as before
    crash_points = points(kit)
    if kit.register:
        monkeypatch.setitem(registry.PACKAGES, kit.name, kit.descriptor_module)
    on_server = os.environ.get("SOAK_JOURNAL", "sqlite") == "postgres"
    pg = request.getfixturevalue("pg_server") if on_server else None
    sim = SimServer(kit)
    counts: Counter[str] = Counter()
    mismatches: list[str] = []
    try:
        for run in range(runs):
            sim.reset()
            journal = tmp_path / f"journal-{run}.sqlite"
            server = f'url = "{pg.create_db()}"\n' if pg is not None else ""
            config = write_config(f'\n[journal]\npath = "{journal.as_posix()}"\n{server}', name=f"soak-{run}.toml")
            mode = rng.choice(["quick"] * 3 + ["late_answer", "late_apply"])
            if mode == "quick":
                latency = rng.choice([0.0, 0.0, 0.05, 0.2, 0.6])
                if latency:
                    sim.faults(latency_s=latency)
                longest = 4.0
            elif mode == "late_answer":  # applied at once, answered after the timeout
                sim.faults(latency_s=3.5)
                longest = 15.0
            else:  # applied after the timeout
                sim.faults(apply_delay_s=4.0)
                longest = 15.0
            counts[mode] += 1
            if rng.random() < 0.3:  # a named crash point
                code = run_child(config, sim.url, "mixed", rng.choice(crash_points), kill_after=30, provider=kit,
                                 check=False)
            else:  # a random moment
                code = run_child(config, sim.url, "mixed", None, kill_after=rng.uniform(0.3, longest),
                                 provider=kit, check=False)
            counts["runs"] += 1
            counts["kills" if code == -9 else "completed"] += 1
            if code not in (0, -9):  # completed, but stopped by an error the cashier would see
                counts["stopped by an error"] += 1
            early = [op.state for op in await recover_only(config, sim.url, kit)]
            sim.wait_applied()
            sim.faults(clear=True)
            till = await recover_and_finish(config, sim.url, kit)
            problems = consistency(till.journal.path, sim.ledger())
            if pg is not None:
                problems += forwarded_as_journaled(till.journal)
            till.journal.close()
            counts["decided late"] += early.count("unknown") + early.count("sent")
            if problems:
                mismatches.append(f"run {run} ({mode}): {problems}")
    finally:
        sim.stop()
    counts["mismatches"] = len(mismatches)
    print(f"\nsoak {kit.name} (seed {seed}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    assert not mismatches, "\n".join(mismatches[:10])


def forwarded_as_journaled(journal: Any) -> list[str]:
    """Every change of the till on the server, once, as at the till (forward mode)."""
    import time

    from tests.test_journal_forward import dump

    forwarder = journal.forwarder
    forwarder.wake()
    deadline = time.monotonic() + 30
    while journal.backlog() and time.monotonic() < deadline:
        time.sleep(0.05)
    if journal.backlog():
        return [f"{journal.backlog()} changes not forwarded: {forwarder.error or forwarder.conflict}"]
    server = forwarder._connect()
    try:
        theirs = dump(server)
    finally:
        server.close()
    mine = dump(journal)
    return [f"{table} differs on the server" for table in mine if mine[table] != theirs[table]]
