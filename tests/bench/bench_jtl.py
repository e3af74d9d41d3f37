"""Benchmark of JTL payments: requests per payment and token requests per 100
payments. Not a test: it prints figures (``python3 tasks.py bench`` runs it).

    python3 tests/bench/bench_jtl.py            100 payments
    python3 tests/bench/bench_jtl.py --quick    10 payments (the smoke test's)

The till is opened from the demo configuration (``open_till``; JTL at
``sim://jtl``, the in-process simulator, which counts every request it gets
in its request log). A payment: scan a croissant (2.50), check the JTL
voucher (``GET /vouchers/{id}``), pay it (Enter: the state read before the
send, ``GET …/complete``, ``POST /reservations``), and the close that
follows (``POST /reservations/{id}/charge``, read of the charges before it).
Targets: 1 token request per 100 payments (the token lives an hour); as few
requests per payment as the journal's "read the state before you send" rule
allows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ROOT = Path(__file__).resolve().parents[2]
VOUCHER = "a1b2c3d4e5f600000001"
CROISSANT = "7610000000042"

TOKENS = "Token requests per 100 JTL payments"
PER_PAYMENT = "Requests per JTL payment (check, reserve, charge at close)"
ROWS = [TOKENS, PER_PAYMENT]


def kind(method: str, path: str) -> str:
    """A request log entry as a kind of request (ids replaced)."""
    parts = path.strip("/").split("/")
    shown = [p if not any(c.isdigit() for c in p) or p == "v1" else "{id}" for p in parts]
    return f"{method} /{'/'.join(shown)}"


async def measure(payments: int) -> tuple[int, Counter[str], float]:
    from pos_app.config import load_config
    from pos_app.services.setup import open_till

    till = open_till(load_config(ROOT / "config" / "demo.toml"))
    try:
        sim = till.providers["jtl"].simulator
        sim.voucher(VOUCHER).remaining = 50_000_00  # enough for every payment of the run
        before = len(sim.state.requests)
        started = time.perf_counter()
        for _ in range(payments):
            till.scan(CROISSANT)
            check = await till.vouchers.check(VOUCHER)
            outcome = await till.vouchers.pay(check)
            assert outcome.closed is not None, outcome.notice.text
        elapsed = time.perf_counter() - started
        requests = sim.state.requests[before:]
        return len(requests), Counter(kind(r.method, r.path) for r in requests), elapsed
    finally:
        till.journal.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 payments instead of 100")
    args = parser.parse_args(argv)
    payments = 10 if args.quick else 100
    with tempfile.TemporaryDirectory(prefix="bench-jtl-") as data:
        os.environ["POS_DATA_DIR"] = data
        total, kinds, elapsed = asyncio.run(measure(payments))
    tokens = kinds.get("POST /oauth/token", 0)
    allowed = max(1, payments // 100)  # one token per 100 payments (a run of 10 may fetch one too)
    per_payment = (total - tokens) / payments
    print()
    print("| measure | figure | target | met? |")
    print("|---|---|---|---|")
    print(f"| {TOKENS} | {tokens} in {payments} payments | 1 | {'yes' if tokens <= allowed else 'no'} |")
    print(f"| {PER_PAYMENT} | {per_payment:.1f} | (reported) | - |")
    print()
    print(f"{payments} payments in {elapsed:.2f} s ({elapsed / payments * 1000:.1f} ms each, in-process simulator)")
    print("Requests by kind over the run:")
    for name, count in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"  {count / payments:5.2f} per payment  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
