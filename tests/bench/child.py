"""One benchmark run in a fresh process (its RSS and peak are its own, its patches
go with it); prints one JSON result line. Started by ``bench_till.py``:

    child.py sales pos|bare N STEP   N 3-line cash sales, key events sent straight to
                                     the app (headless); RSS every STEP sales
    child.py pilot-sales N           the same sales driven with Pilot (its waits)
    child.py services N STEP         the same sales through the services only (no UI)
    child.py voucher RUNS PILOT_RUNS Enter on a voucher code -> balance -> tender line,
                                     keys sent straight, then with Pilot
    child.py commits N [N ...]       SQLite commits per N-line cash sale (commits.py)
    child.py connections PAYMENTS INTERVAL_S [real]   new connections (connections.py)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (  # noqa: E402
    MERLOT,
    SALE_CODES,
    SIZE,
    VOUCHER,
    Frames,
    KeyDriver,
    emit,
    now,
    peak_mib,
    rss_mib,
    table_rows,
    write_config,
)


def open_bench_till(folder: Path) -> Any:
    from pos_app.config import load_config
    from pos_app.services.setup import open_till

    return open_till(load_config(write_config(folder)))


# -- what "done" looks like, for the till and for the bare app -----------------------
class TillSubject:
    """The real app: conditions read from the till's state and the checkout screen."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.till = app.till
        self.checkout: Any = None

    async def ready(self, driver: KeyDriver) -> None:
        await driver.until(lambda: self.app.focused is not None, what="the checkout is up (scan field in focus)")
        self.checkout = self.app.screen

    def line_shown(self, count: int) -> bool:
        if self.app.screen is not self.checkout or len(self.till.order.active_lines) != count:
            return False
        rows = table_rows(self.checkout, "#lines")
        return rows is None or rows == count

    def dialog_open(self) -> bool:
        focused = self.app.focused
        return self.app.screen is not self.checkout and focused is not None and focused.screen is self.app.screen

    def closed(self, sales: int) -> bool:
        """Sale number ``sales`` (the journal starts empty: 1-0001, 1-0002, ...) is closed
        and the checkout is back."""
        last = self.till.last_closed
        return (self.app.screen is self.checkout and last is not None and self.till.order.is_empty
                and int(last.number.rsplit("-", 1)[-1]) >= sales)

    def printed(self) -> bool:
        return not self.till.journal.unprinted_receipts()


class BareSubject:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.main: Any = None

    async def ready(self, driver: KeyDriver) -> None:
        await driver.until(lambda: self.app.focused is not None, what="the bare app is up")
        self.main = self.app.screen

    def line_shown(self, count: int) -> bool:
        return self.app.lines == count and table_rows(self.main, "#lines") == count

    def dialog_open(self) -> bool:
        focused = self.app.focused
        return self.app.screen is not self.main and focused is not None and focused.screen is self.app.screen

    def closed(self, sales: int) -> bool:
        return self.app.screen is self.main and self.app.sales >= sales

    def printed(self) -> bool:
        return True  # nothing to print


def make_app(kind: str, folder: Path) -> tuple[Any, type]:
    if kind == "pos":
        from pos_app.ui.app import PosApp

        return PosApp(open_bench_till(folder)), TillSubject
    from tests.bench.bare_app import BareApp

    return BareApp(), BareSubject


class LayoutCounter:
    """Re-layouts of one screen: ``runs`` counts Textual's ``Screen._refresh_layout``
    (a layout done), ``requests`` the ``refresh(layout=True)`` calls of its widgets
    (several requests in one frame make one layout). None where this Textual has
    neither."""

    def __init__(self, screen: Any) -> None:
        from textual.widget import Widget

        self.runs: int | None = None
        self.requests: int | None = None
        original = getattr(screen, "_refresh_layout", None)
        if original is not None:
            self.runs = 0

            def counting(*args: Any, **kwargs: Any) -> Any:
                self.runs = (self.runs or 0) + 1
                return original(*args, **kwargs)

            screen._refresh_layout = counting
        refresh = Widget.refresh
        self.requests = 0

        def requesting(widget: Any, *regions: Any, **kwargs: Any) -> Any:
            if kwargs.get("layout"):
                try:
                    mine = widget is screen or widget.screen is screen
                except Exception:  # noqa: BLE001 - not mounted (yet, any more)
                    mine = False
                if mine:
                    self.requests = (self.requests or 0) + 1
            return refresh(widget, *regions, **kwargs)

        Widget.refresh = requesting  # type: ignore[method-assign]


async def sales(kind: str, count: int, step: int, folder: Path) -> dict[str, Any]:
    app, subject_type = make_app(kind, folder)
    steps: dict[str, list[float]] = {"scan": [], "f3": [], "enter": [], "printed": []}
    checkpoints: list[dict[str, float]] = []
    async with app.run_test(size=SIZE) as pilot:
        driver = KeyDriver(app)
        subject = subject_type(app)
        await subject.ready(driver)
        await pilot.pause()  # the first frame is drawn; from here on no Pilot
        layouts = LayoutCounter(subject.checkout if kind == "pos" else subject.main)
        checkpoints.append({"sales": 0, "rss": rss_mib(), "t": 0.0})
        started = now()
        for sale in range(1, count + 1):
            for index, code in enumerate(SALE_CODES, 1):
                t = now()
                driver.type(code, "enter")
                await driver.until(lambda i=index: subject.line_shown(i), what=f"line {index} of sale {sale}")
                await driver.painted()
                steps["scan"].append(now() - t)
            t = now()
            driver.keys("f3")
            await driver.until(subject.dialog_open, what="the cash dialog")
            await driver.painted()
            steps["f3"].append(now() - t)
            t = now()
            driver.keys("enter")  # the amount due, proposed
            await driver.until(lambda s=sale: subject.closed(s), what=f"sale {sale} closed")
            await driver.painted()
            steps["enter"].append(now() - t)
            await driver.until(subject.printed, what=f"the receipt of sale {sale} printed (dummy printer)")
            steps["printed"].append(now() - t)
            if sale % step == 0:
                checkpoints.append({"sales": sale, "rss": rss_mib(), "t": now() - started})
        elapsed = now() - started
        runs, requests = layouts.runs, layouts.requests

    if kind == "pos":
        app.till.journal.close()
    return {"kind": kind, "sales": count, "elapsed": elapsed, "checkpoints": checkpoints, "steps": steps,
            "layouts_per_sale": None if runs is None else runs / count,
            "layout_requests_per_sale": None if requests is None else requests / count,
            "peak": peak_mib(), "rss_end": rss_mib()}


async def pilot_sales(count: int, folder: Path) -> dict[str, Any]:
    """The same sales, each key pressed with Pilot (``pilot.press`` waits for idle)."""
    from pos_app.ui.app import PosApp

    app = PosApp(open_bench_till(folder))
    async with app.run_test(size=SIZE) as pilot:
        driver = KeyDriver(app)
        subject = TillSubject(app)
        await subject.ready(driver)
        await pilot.pause()
        started = now()
        for sale in range(1, count + 1):
            for index, code in enumerate(SALE_CODES, 1):
                await pilot.press(*code, "enter")
                await driver.until(lambda i=index: subject.line_shown(i))
            await pilot.press("f3")
            await driver.until(subject.dialog_open)
            await pilot.press("enter")
            await driver.until(lambda s=sale: subject.closed(s))
            await driver.until(subject.printed)
        elapsed = now() - started
    app.till.journal.close()
    return {"sales": count, "elapsed": elapsed}


async def services_sales(count: int, step: int, folder: Path) -> dict[str, Any]:
    """The same sales through the till's services: scan, pay_cash, print (no Textual)."""
    till = open_bench_till(folder)
    checkpoints = [{"sales": 0, "rss": rss_mib(), "t": 0.0}]
    started = now()
    for sale in range(1, count + 1):
        for code in SALE_CODES:
            till.scan(code)
        outcome = await till.pay_cash(till.order.cash_due)
        assert outcome.closed is not None, outcome
        await till.print_receipt(outcome.closed.receipt_id)
        if sale % step == 0:
            checkpoints.append({"sales": sale, "rss": rss_mib(), "t": now() - started})
    till.journal.close()
    return {"sales": count, "elapsed": now() - started, "checkpoints": checkpoints, "peak": peak_mib()}


async def voucher(runs: int, pilot_runs: int, folder: Path) -> dict[str, Any]:
    """Enter on a scanned voucher code -> balance shown -> Enter -> tender line on screen,
    against the in-process simulator with no latency; then F9, Enter cancels (the
    voucher gets its money back, ready for the next run)."""
    from pos_app.ui.app import PosApp

    app = PosApp(open_bench_till(folder))
    till = app.till
    sim = till.providers["eguma"].simulator
    result: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        driver = KeyDriver(app)
        subject = TillSubject(app)
        await subject.ready(driver)
        await pilot.pause()
        checkout = subject.checkout

        def balance_shown() -> bool:
            dialog = app.screen
            if dialog is checkout:
                return False
            try:
                return "Balance" in str(dialog.query_one("#result").content)
            except Exception:  # noqa: BLE001 - reworked dialog: its check is there
                return getattr(dialog, "check", None) is not None

        def tender_shown() -> bool:
            if app.screen is not checkout or not till.order.active_tenders:
                return False
            rows = table_rows(checkout, "#tenders")
            return rows is None or rows > 0

        def cancelled() -> bool:
            return (app.screen is checkout and not till.order.active_lines
                    and not getattr(checkout, "provider_busy", False))

        # -- keys sent straight to the app ------------------------------------------
        frames = Frames(app)
        to_balance: list[float] = []
        to_tender: list[float] = []  # the first frame written that shows the tender line
        to_tender_state: list[float] = []  # the tender line in the till and the table (not drawn yet)
        to_settled: list[float] = []  # every redraw after it done, the screen idle
        unseen = 0  # runs where no frame showed the line (then the settled time counts)
        requests = 0
        for _ in range(runs):
            driver.type("2*" + MERLOT, "enter")
            await driver.until(lambda: subject.line_shown(1), what="the merlot line")
            driver.keys("f2")
            await driver.until(subject.dialog_open, what="the voucher dialog")
            driver.type(VOUCHER)
            await driver.until(lambda: app.focused is not None and getattr(app.focused, "value", "") == VOUCHER,
                               what="the code typed")
            await driver.painted()
            before = len(sim.state.requests)
            t = now()
            driver.keys("enter")
            await driver.until(balance_shown, what="the balance")
            await driver.painted()
            to_balance.append(now() - t)
            frames.start()
            t = now()
            driver.keys("enter")
            await driver.until(tender_shown, what="the tender line")
            to_tender_state.append(now() - t)
            await driver.painted()
            to_settled.append(now() - t)
            frames.stop()
            # the tender row "Voucher …KJR3   -50.00" (the status line says "paid 50.00")
            shown = frames.first_showing(checkout, VOUCHER[-4:] + r" +-\d+\.\d\d")
            if shown is None:
                unseen += 1
            to_tender.append((shown or now()) - t)
            requests += len(sim.state.requests) - before
            driver.keys("f9")
            await driver.until(lambda: app.screen is not checkout, what="the cancel question")
            await driver.painted()
            driver.keys("enter")
            await driver.until(cancelled, what="the order cancelled")
            await driver.painted()
        result["direct"] = {"to_balance": to_balance, "to_tender": to_tender, "to_tender_state": to_tender_state,
                            "to_settled": to_settled, "unseen": unseen, "requests_per_payment": requests / runs}

        # -- with Pilot, as the old benchmark did (Pilot's own waits included) --------
        async def enter_until(predicate: Any) -> float:
            start = now()
            await pilot.press("enter")
            await driver.until(predicate)
            return now() - start

        p_balance: list[float] = []
        p_tender: list[float] = []
        for _ in range(pilot_runs):
            await pilot.press(*"2*" + MERLOT, "enter")
            await pilot.press("f2", *VOUCHER)
            p_balance.append(await enter_until(balance_shown))
            p_tender.append(await enter_until(tender_shown))
            await pilot.press("f9", "enter")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        result["pilot"] = {"to_balance": p_balance, "to_tender": p_tender}
    till.journal.close()
    return result


def main(argv: list[str]) -> None:
    mode = argv[0]
    with tempfile.TemporaryDirectory(prefix="pos-bench-ui-") as tmp:
        folder = Path(tmp)
        os.environ["POS_DATA_DIR"] = str(folder / "data")
        if mode == "sales":
            result = asyncio.run(sales(argv[1], int(argv[2]), int(argv[3]), folder))
        elif mode == "pilot-sales":
            result = asyncio.run(pilot_sales(int(argv[1]), folder))
        elif mode == "services":
            result = asyncio.run(services_sales(int(argv[1]), int(argv[2]), folder))
        elif mode == "voucher":
            result = asyncio.run(voucher(int(argv[1]), int(argv[2]), folder))
        elif mode == "commits":
            from tests.bench.commits import commits_per_sale

            result = commits_per_sale(folder, [int(n) for n in argv[1:]])
        elif mode == "connections":
            from tests.bench.connections import measure

            result = measure(folder / "connections", int(argv[1]), float(argv[2]),
                             real_time=argv[3:] == ["real"])
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1:])
