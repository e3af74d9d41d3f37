"""Randomized soak: kill the till at random moments, restart, reconcile, check.

Slow (several minutes): `python3 tasks.py soak`. Prints the counts.
SOAK_RUNS (default 200) and SOAK_SEED choose the size and the randomness.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.crashkit import SimServer, consistency, recover_and_finish, run_child

POINTS = [f"{op}:{p}" for op in ("redeem", "cancel", "activate", "deactivate")
          for p in ("before_send", "after_send", "after_response")] + ["close:before_commit", "close:after_commit"]


@pytest.mark.slow
async def test_random_kills(write_config: Callable[..., Path], tmp_path: Path) -> None:
    runs = int(os.environ.get("SOAK_RUNS", "200"))
    seed = int(os.environ.get("SOAK_SEED", "20261123"))
    rng = random.Random(seed)
    sim = SimServer()
    counts: Counter[str] = Counter()
    mismatches: list[str] = []
    try:
        for run in range(runs):
            sim.reset()
            journal = tmp_path / f"journal-{run}.sqlite"
            config = write_config(f'\n[journal]\npath = "{journal.as_posix()}"\n', name=f"soak-{run}.toml")
            latency = rng.choice([0.0, 0.0, 0.05, 0.2, 0.6])
            if latency:
                sim.faults(latency_s=latency)
            if rng.random() < 0.3:  # a named crash point
                code = run_child(config, sim.url, "mixed", rng.choice(POINTS))
            else:  # a random moment
                code = run_child(config, sim.url, "mixed", None, kill_after=rng.uniform(0.3, 4.0))
            counts["runs"] += 1
            counts["kills" if code == -9 else "completed"] += 1
            sim.faults(clear=True)
            till = await recover_and_finish(config, sim.url)
            problems = consistency(till.journal.path, sim.state())
            till.journal.close()
            if problems:
                mismatches.append(f"run {run}: {problems}")
    finally:
        sim.stop()
    counts["mismatches"] = len(mismatches)
    print(f"\nsoak (seed {seed}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    assert not mismatches, "\n".join(mismatches[:10])
