"""Commits per N-line cash sale, through the services as the checkout calls them:
``Till.scan`` N times, ``Till.pay_cash`` (the amount due; the order closes) and
``Till.print_receipt`` (dummy printer).

Every SQLite connection the till opens gets a trace callback (``sqlite3.connect``
is wrapped while the till is opened), which sees each statement run:

* a transaction is ``BEGIN ...`` up to ``COMMIT``/``END``; a write outside one
  (autocommit) counts as a transaction of its own;
* each commit is put down to the store method that made it (the first public
  method of ``pos_app/journal/store.py`` on the stack);
* ``os.fsync`` calls from Python (the last-number file) are counted too.
  SQLite's own syncs are not visible from Python; with ``synchronous=FULL`` in
  WAL mode each commit syncs the write-ahead log once.

A first sale warms up (the first order of a journal); the figures are of the
sales after it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.common import write_config

CODES = ["7610000000011", "7610000000028", "7610000000035", "7610000000042",
         "7610000000059", "7610000000066", "7610000000073", "7610000000080"]
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class Tracer:
    def __init__(self) -> None:
        self.recording = False
        self.in_tx = False
        self.commits: Counter[str] = Counter()
        self.statements = 0
        self.fsyncs = 0

    def __call__(self, sql: str) -> None:
        text = sql.lstrip()
        if text.startswith("--"):  # a trigger's statement
            return
        word = text[:10].upper()
        if word.startswith("BEGIN"):
            self.in_tx = True
            return
        if word.startswith(("COMMIT", "END")):
            if self.in_tx and self.recording:
                self.commits[caller()] += 1
            self.in_tx = False
            return
        if word.startswith("ROLLBACK"):
            self.in_tx = False
            return
        if self.recording:
            self.statements += 1
            if not self.in_tx and word.startswith(WRITES):
                self.commits[caller() + " (autocommit)"] += 1

    def start(self) -> None:
        self.commits.clear()
        self.statements = 0
        self.fsyncs = 0
        self.recording = True

    def stop(self) -> None:
        self.recording = False


def caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_filename.replace("\\", "/").endswith("pos_app/journal/store.py") \
                and not code.co_name.startswith("_"):
            return code.co_name
        frame = frame.f_back
    return "?"


async def one_sale(till: Any, lines: int) -> None:
    for index in range(lines):
        till.scan(CODES[index % len(CODES)])
    outcome = await till.pay_cash(till.order.cash_due)
    if outcome.closed is None:
        raise RuntimeError(f"the sale did not close: {outcome.notice}")
    printed = await till.print_receipt(outcome.closed.receipt_id)
    if not printed.ok:
        raise RuntimeError(f"the receipt did not print: {printed.notice}")


async def count(folder: Path, sizes: list[int]) -> dict[str, Any]:
    from pos_app.config import load_config
    from pos_app.services.setup import open_till

    tracer = Tracer()
    real_connect = sqlite3.connect
    real_fsync = os.fsync

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(tracer)
        return connection

    def fsync(fd: int) -> None:
        if tracer.recording:
            tracer.fsyncs += 1
        real_fsync(fd)

    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        till = open_till(load_config(write_config(folder)))
    finally:
        sqlite3.connect = real_connect  # type: ignore[assignment]
    os.fsync = fsync
    result: dict[str, Any] = {"sizes": {}}
    try:
        await one_sale(till, 3)  # warm-up
        for lines in sizes:
            tracer.start()
            await one_sale(till, lines)
            tracer.stop()
            result["sizes"][str(lines)] = {
                "commits": sum(tracer.commits.values()),
                "by_call": dict(tracer.commits),
                "statements": tracer.statements,
                "python_fsyncs": tracer.fsyncs,
            }
        result["synchronous"] = till.journal.pragma("synchronous")
        result["journal_mode"] = till.journal.pragma("journal_mode")
    finally:
        os.fsync = real_fsync
        till.journal.close()
    return result


def commits_per_sale(folder: Path, sizes: list[int]) -> dict[str, Any]:
    return asyncio.run(count(folder, sizes))
