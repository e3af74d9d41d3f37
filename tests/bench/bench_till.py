"""Benchmark of the till against its targets. Not a test: it prints figures.

    python3 tasks.py bench                  the full run (about ten minutes)
    python3 tasks.py bench --quick          a tiny run of every measure (the smoke test's)
    python3 tasks.py bench --only memory,startup,commits,voucher,connections
    python3 tasks.py bench --connections-real-time   payments really 30 s apart (50 min)

Every UI measure drives the real app (``PosApp`` over ``open_till``, headless
``App.run_test``) with key events sent straight to it, waiting only until the
till's state or the screen shows the result and the next frame is drawn (see
``common.KeyDriver``); Pilot figures are printed beside them for comparison.
Each measure runs in a fresh process (``child.py``), start-ups in a pty
(``startup.py``). At the end: one table, measure | figure | target | met?,
then the details of each measure and how it was taken.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (  # noqa: E402
    BENCH,
    ROOT,
    env_for_children,
    median,
    ms,
    p90,
    parse_result,
    write_config,
)

SECTIONS = ("memory", "startup", "commits", "voucher", "connections")

# The rows of the table (the smoke test checks that each is printed with a number).
PEAK = "Peak RSS after 1,000 cash sales through the UI, vs a bare Textual app"
GROWTH = "RSS growth per 100 sales after the first 100"
START = "Start to an interactive checkout (first scan shown), vs a bare Textual app"
START_BIG = "Start-up at 100,000 orders vs at 0 orders"
COMMITS = "Commits per {n}-line cash sale"
VOUCHER = "Enter on a voucher code -> tender line on screen (in-process simulator, no latency)"
CONNECTIONS = "New connections per 100 payments, one every 30 s, server keeps connections 75 s"
COMMIT_SIZES = (1, 3, 10)
ROWS = [PEAK, GROWTH, START, START_BIG, *(COMMITS.format(n=n) for n in COMMIT_SIZES), VOUCHER, CONNECTIONS]
STARTED = time.perf_counter()


def log(text: str) -> None:
    print(f"bench [{time.perf_counter() - STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


def child(args: list[str], data_dir: Path, timeout_s: float = 3600) -> dict[str, Any]:
    """Run ``child.py ARGS`` in a fresh interpreter; its JSON result."""
    proc = subprocess.run([sys.executable, str(BENCH / "child.py"), *args], capture_output=True, text=True,
                          env=env_for_children(data_dir), cwd=ROOT, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"child.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return parse_result(proc.stdout)


class Plan:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.sales = 20 if quick else 1000
        self.step = 10 if quick else 100
        self.pilot_sales = 0 if quick else 5  # (Pilot's path is run by the voucher measure too)
        self.rounds = 2 if quick else 10
        self.sizes = [0, 1000] if quick else [0, 10_000, 100_000]
        self.commit_sizes = list(COMMIT_SIZES)
        self.warm_up = not quick
        self.voucher_runs = 3 if quick else 50
        self.voucher_pilot_runs = 1 if quick else 20
        self.payments = 10 if quick else 100
        self.context_intervals = [] if quick else [6.0]


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, measure: str, figure: str, target: str, met: bool | None) -> None:
        self.rows.append((measure, figure, target, "n/a" if met is None else ("yes" if met else "NO")))

    def render(self) -> str:
        head = ("measure", "figure", "target", "met?")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(4)]
        line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
        rule = "|-" + "-|-".join("-" * w for w in widths) + "-|"
        body = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
                for row in self.rows]
        return "\n".join([line, rule, *body])


# -- memory over sales through the UI ------------------------------------------------
def growth_per_100(checkpoints: list[dict[str, float]]) -> float:
    """RSS growth per 100 sales from the first checkpoint after 0 to the last."""
    first, last = checkpoints[1], checkpoints[-1]
    sales = last["sales"] - first["sales"]
    return (last["rss"] - first["rss"]) / sales * 100 if sales else 0.0


def per_block(checkpoints: list[dict[str, float]]) -> list[float]:
    return [b["t"] - a["t"] for a, b in zip(checkpoints, checkpoints[1:], strict=False)]


def memory(plan: Plan, work: Path, table: Table, details: list[str]) -> None:
    log(f"memory: {plan.sales} cash sales through the real UI (keys sent straight to the app)")
    pos = child(["sales", "pos", str(plan.sales), str(plan.step)], work / "data")
    log(f"memory: the same {plan.sales} sales through the bare Textual app")
    bare = child(["sales", "bare", str(plan.sales), str(plan.step)], work / "data")
    log(f"memory: the same {plan.sales} sales through the services only")
    services = child(["services", str(plan.sales), str(plan.step)], work / "data")
    pilot = None
    if plan.pilot_sales:
        log(f"memory: {plan.pilot_sales} sale(s) driven with Pilot, for comparison")
        pilot = child(["pilot-sales", str(plan.pilot_sales)], work / "data")

    label = f"{plan.sales:,} sales" + (" (quick)" if plan.quick else "")
    ratio = pos["peak"] / bare["peak"]
    table.add(PEAK,
              f"{pos['peak']:.0f} MiB = {ratio:.2f}x bare ({bare['peak']:.0f} MiB), {label}",
              "<= 2x bare", ratio <= 2.0)
    growth = growth_per_100(pos["checkpoints"])
    table.add(GROWTH,
              f"{growth:.2f} MiB (sales {pos['checkpoints'][1]['sales']}..{pos['checkpoints'][-1]['sales']})",
              "< 1 MiB", growth < 1.0)

    details.append("Memory and time over cash sales through the UI (3 lines, F3, Enter; dummy printer)")
    details.append("  RSS = VmRSS of the process after each block (MiB); peak = VmHWM at the end; each app in a")
    details.append("  fresh process, headless (App.run_test), 100x30, keys sent straight to the app.")
    details.append("  The bare app uses Textual's own Footer, as an app built on Textual would.")
    details.append(f"  {'sales':>6} | {'till RSS':>9} | {'bare RSS':>9} | {'till/bare':>9} | {'services RSS':>12} | "
                   f"{'till s/block':>12} | {'bare s/block':>12}")
    till_blocks, bare_blocks = per_block(pos["checkpoints"]), per_block(bare["checkpoints"])
    for i, point in enumerate(pos["checkpoints"]):
        b = bare["checkpoints"][i]
        s = services["checkpoints"][i] if i < len(services["checkpoints"]) else {"rss": float("nan")}
        tb = f"{till_blocks[i - 1]:.2f}" if i else ""
        bb = f"{bare_blocks[i - 1]:.2f}" if i else ""
        details.append(f"  {int(point['sales']):>6} | {point['rss']:>9.1f} | {b['rss']:>9.1f} | "
                       f"{point['rss'] / b['rss']:>9.2f} | {s['rss']:>12.1f} | {tb:>12} | {bb:>12}")
    details.append(f"  peak RSS: till {pos['peak']:.1f} MiB, bare Textual app {bare['peak']:.1f} MiB "
                   f"({ratio:.2f}x), services only {services['peak']:.1f} MiB")
    details.append(f"  growth per 100 sales after the first block: till {growth:.2f} MiB, bare "
                   f"{growth_per_100(bare['checkpoints']):.2f} MiB, services "
                   f"{growth_per_100(services['checkpoints']):.2f} MiB")
    if till_blocks:
        details.append(f"  time per {plan.step} sales, first vs last block: till {till_blocks[0]:.2f} s -> "
                       f"{till_blocks[-1]:.2f} s ({till_blocks[-1] / till_blocks[0]:.2f}x); bare "
                       f"{bare_blocks[0]:.2f} s -> {bare_blocks[-1]:.2f} s ({bare_blocks[-1] / bare_blocks[0]:.2f}x)")
    details.append(f"  per sale: till {pos['elapsed'] / pos['sales'] * 1000:.0f} ms, bare "
                   f"{bare['elapsed'] / bare['sales'] * 1000:.0f} ms, services only "
                   f"{services['elapsed'] / services['sales'] * 1000:.1f} ms"
                   + (f"; driven with Pilot: till {pilot['elapsed'] / pilot['sales'] * 1000:.0f} ms "
                      f"({pilot['sales']} sales)" if pilot else ""))
    steps = pos["steps"]
    bsteps = bare["steps"]
    details.append("  per step, median (p90), from the key event posted until the result is in the till and every "
                   "redraw is done (the screen idle):")
    details.append("    "
                   f"scan -> line {ms(median(steps['scan']))} ({ms(p90(steps['scan']))}); "
                   f"F3 -> cash dialog {ms(median(steps['f3']))} ({ms(p90(steps['f3']))}); "
                   f"Enter -> sale closed {ms(median(steps['enter']))} ({ms(p90(steps['enter']))}); "
                   f"Enter -> receipt printed {ms(median(steps['printed']))}")
    details.append("    bare app, same steps: "
                   f"scan {ms(median(bsteps['scan']))}; F3 {ms(median(bsteps['f3']))}; "
                   f"Enter {ms(median(bsteps['enter']))}")

    def per_sale(result: dict[str, Any], key: str) -> str:
        value = result.get(key)
        return "n/a" if value is None else f"{value:.1f}"

    details.append(f"  re-layouts of the checkout screen per sale: {per_sale(pos, 'layouts_per_sale')} done "
                   f"(Screen._refresh_layout runs), {per_sale(pos, 'layout_requests_per_sale')} requested "
                   f"(refresh(layout=True) of its widgets); the bare app's screen: "
                   f"{per_sale(bare, 'layouts_per_sale')} done, {per_sale(bare, 'layout_requests_per_sale')} requested")


# -- start-up ----------------------------------------------------------------------
def startup(plan: Plan, work: Path, table: Table, details: list[str]) -> None:
    from tests.bench.journals import copy_journal, generate
    from tests.bench.startup import bare_command, importtime_run, pos_command, run_in_pty

    log(f"start-up: journals of {', '.join(f'{n:,}' for n in plan.sizes)} closed orders, through the store")
    journals, how = generate(work / "journals", plan.sizes, lambda text: log("start-up: " + text))
    biggest = max(plan.sizes)
    env_base = env_for_children(work / "data")
    env_base["TERM"] = "xterm-256color"

    def start(variant: str) -> Any:
        if variant == "bare":
            return run_in_pty(bare_command(), env_base)
        size = int(variant)
        folder = work / "runs" / variant
        journal = folder / "journal.sqlite"
        copy_journal(journals[size], journal)  # every start on the journal as generated
        config = write_config(folder, journal=journal)
        return run_in_pty(pos_command(config), dict(env_base, POS_DATA_DIR=str(folder / "data")))

    variants = ["bare", *[str(n) for n in plan.sizes]]

    def failed(variant: str, run: Any) -> None:
        if run.error:
            screen = run.output[-1500:].decode("utf-8", "replace")
            raise RuntimeError(f"start-up of {variant} failed: {run.error}; the screen's last bytes:\n{screen}")
    if plan.warm_up:
        log("start-up: a warm-up round (not counted)")
        for variant in variants:
            failed(variant, start(variant))
    runs: dict[str, list[Any]] = {v: [] for v in variants}
    for round_index in range(plan.rounds):
        order = variants[round_index % len(variants):] + variants[:round_index % len(variants)]
        log(f"start-up: round {round_index + 1}/{plan.rounds} ({', '.join(order)})")
        for variant in order:
            run = start(variant)
            failed(variant, run)
            runs[variant].append(run)
    log("start-up: python -X importtime of the till's start and of the bare app's")
    folder = work / "runs" / "importtime"
    journal = folder / "journal.sqlite"
    copy_journal(journals[0], journal)
    imports = importtime_run(write_config(folder, journal=journal),
                             dict(env_base, POS_DATA_DIR=str(folder / "data")), folder / "imports.log")
    bare_imports = importtime_run(None, env_base, work / "runs" / "bare-imports.log")

    def med(variant: str, field: str) -> float:
        return median(getattr(r, field) for r in runs[variant])

    pos0, bare = med("0", "scan"), med("bare", "scan")
    ratio = pos0 / bare
    table.add(START,
              f"{pos0:.3f} s = {ratio:.2f}x bare ({bare:.3f} s), median of {plan.rounds}",
              "<= 1.3x bare", ratio <= 1.3)
    top = med(str(biggest), "scan")
    big_ratio = top / pos0
    table.add(START_BIG,
              f"{top:.3f} s = {big_ratio:.2f}x ({pos0:.3f} s at 0)"
              + (f", quick: {biggest:,} orders" if plan.quick else ""),
              "<= 1.1x", big_ratio <= 1.1)

    details.append("Start-up (each program started in a new pty of 100x30, alternating, after a warm-up round)")
    details.append("  wall: from just before the fork to 'Ready' drawn / to the first scan's line drawn (the")
    details.append("  barcode is typed into the terminal the moment 'Ready' shows); CPU: user+system of the")
    details.append("  child from /proc/<pid>/stat at the same moments (10 ms ticks). Medians, s.")
    details.append(f"  {'program':<24} | {'ready':>6} | {'1st scan':>8} | {'CPU@ready':>9} | {'CPU@scan':>8} | "
                   f"{'x bare':>6} | runs (1st scan)")
    for variant in variants:
        name = "bare Textual app" if variant == "bare" else f"pos, {int(variant):,} orders"
        values = ", ".join(f"{r.scan:.2f}" for r in runs[variant])
        details.append(f"  {name:<24} | {med(variant, 'ready'):>6.3f} | {med(variant, 'scan'):>8.3f} | "
                       f"{med(variant, 'ready_cpu'):>9.2f} | {med(variant, 'scan_cpu'):>8.2f} | "
                       f"{med(variant, 'scan') / bare:>6.2f} | {values}")
    for size in plan.sizes:
        if size:
            details.append(f"  at {size:,} orders: {med(str(size), 'scan') / pos0:.2f}x the start at 0 orders "
                           f"(journal {journals[size].stat().st_size / 2**20:.0f} MiB)")
    details.append(f"  journals: generated through the store ({how}; see journals.py), copied afresh before "
                   "every start; a clean end (no -wal left)")
    if imports.error or imports.ready is None:
        details.append(f"  importtime: failed ({imports.error})")
    else:
        share = imports.total_self_s / imports.ready
        bare_total = bare_imports.total_self_s if bare_imports.ready else float("nan")
        details.append(f"  imports (python -X importtime, up to 'Ready'; the run itself is slower): "
                       f"{imports.total_self_s * 1000:.0f} ms of {imports.ready * 1000:.0f} ms to Ready "
                       f"= {share:.0%} of the till's start; the bare app imports {bare_total * 1000:.0f} ms "
                       f"(of {(bare_imports.ready or float('nan')) * 1000:.0f} ms)")
        details.append("  top 10 imports of the till's start by package (self time summed, ms): "
                       + ", ".join(f"{name} {s * 1000:.0f}" for name, s in imports.by_package[:10]))
        details.append("  top 10 single modules (self, ms): "
                       + ", ".join(f"{name} {s * 1000:.1f}" for name, s in imports.by_module[:10]))
        details.append("  imports made by the start itself (cumulative, ms): "
                       + ", ".join(f"{name} {s * 1000:.0f}" for name, s in imports.top_level[:8]))
        excess = pos0 - bare
        details.append(f"  beyond the bare app: {excess * 1000:.0f} ms to the first scan, of which imports "
                       f"about {(imports.total_self_s - bare_total) * 1000:.0f} ms more than the bare app's "
                       "(under importtime)")


# -- commits per sale ------------------------------------------------------------
def commits(plan: Plan, work: Path, table: Table, details: list[str]) -> None:
    log("commits: N-line cash sales through the services, SQLite statements traced")
    result = child(["commits", *map(str, plan.commit_sizes)], work / "data")
    details.append("Commits per N-line cash sale (Till.scan xN, Till.pay_cash, Till.print_receipt; after a "
                   "warm-up sale)")
    for n in plan.commit_sizes:
        row = result["sizes"][str(n)]
        table.add(COMMITS.format(n=n), f"{row['commits']}", f"<= {n + 2}",
                  row["commits"] <= n + 2)
        calls = ", ".join(f"{name} x{count}" for name, count in row["by_call"].items())
        details.append(f"  N={n}: {row['commits']} commits ({calls}); {row['statements']} statements; "
                       f"{row['python_fsyncs']} os.fsync from Python (last-number file and its folder)")
    details.append(f"  journal_mode={result['journal_mode']}, synchronous={result['synchronous']} (2 = FULL: "
                   "each commit syncs the write-ahead log once)")
    details.append("  counted with sqlite3 trace callbacks: BEGIN..COMMIT, plus any write outside a transaction")


# -- voucher payment latency ---------------------------------------------------------
def voucher(plan: Plan, work: Path, table: Table, details: list[str]) -> None:
    log(f"voucher: {plan.voucher_runs} payments with keys sent straight, {plan.voucher_pilot_runs} with Pilot")
    result = child(["voucher", str(plan.voucher_runs), str(plan.voucher_pilot_runs)], work / "data")
    direct, pilot = result["direct"], result["pilot"]
    tender = median(direct["to_tender"])
    table.add(VOUCHER,
              f"{tender * 1000:.1f} ms median (p90 {p90(direct['to_tender']) * 1000:.1f} ms), "
              f"{plan.voucher_runs} runs; Pilot {median(pilot['to_tender']) * 1000:.0f} ms",
              "<= 20 ms median", tender <= 0.020)

    def fig(values: list[float]) -> str:
        return f"median {ms(median(values))}, p90 {ms(p90(values))}"

    details.append("Voucher payment (2x Merlot, F2, code typed, Enter -> balance, Enter -> redeemed; F9 Enter "
                   "cancels)")
    details.append(f"  keys sent straight ({plan.voucher_runs} runs), from the Enter key event posted:")
    details.append(f"    -> the first frame written to the terminal that shows the tender line: {fig(direct['to_tender'])}"
                   + (f" (in {direct['unseen']} runs no frame showed it: the settled time counts)"
                      if direct["unseen"] else ""))
    details.append(f"    -> the line in the till and its table (not drawn yet): {fig(direct['to_tender_state'])}; "
                   f"-> every redraw done and the screen idle: {fig(direct['to_settled'])}")
    details.append(f"    Enter on the code -> balance shown, screen idle: {fig(direct['to_balance'])}")
    details.append("    (frames: App._display wrapped, the frames' text read afterwards; Textual draws at most "
                   "60 frames a second)")
    details.append(f"  with Pilot ({plan.voucher_pilot_runs} runs, its waits included): Enter -> balance "
                   f"{fig(pilot['to_balance'])}; Enter -> tender line {fig(pilot['to_tender'])}")
    details.append(f"  HTTP requests per payment (balance + redeem): {direct['requests_per_payment']:.1f}")


# -- connections per payment ---------------------------------------------------------
def connections(plan: Plan, work: Path, table: Table, details: list[str], real_time: bool) -> None:
    runs = [(plan.payments, 30.0)] + [(plan.payments, i) for i in plan.context_intervals]
    results = []
    for payments, interval in runs:
        log(f"connections: {payments} voucher payments, one every {interval:.0f} s"
            + (" (real time)" if real_time else " (simulated idle time)"))
        args = ["connections", str(payments), str(interval)] + (["real"] if real_time else [])
        results.append(child(args, work / "data", timeout_s=payments * interval + 600))
    main = results[0]
    if main["payments"] >= 100:
        figure = f"{main['connections'] / main['payments'] * 100:.0f}"
        met = main["connections"] / main["payments"] * 100 <= 5
    else:  # a short run: the first connection is not spread over 100 payments
        figure = f"{main['connections']} in {main['payments']} payments"
        met = main["connections"] <= 5
    table.add(CONNECTIONS, figure, "<= 5", met)
    details.append("Connections (real HTTP on loopback: the E-GUMA simulator under uvicorn, idle connections "
                   "kept 75 s; the till's own client)")
    for result in results:
        details.append(f"  one payment every {result['interval_s']:.0f} s: {result['connections']} new TCP "
                       f"connections in {result['payments']} payments "
                       f"({result['connections'] / result['payments'] * 100:.0f} per 100), "
                       f"{result['requests']} requests; payment itself {result['work_s'] * 1000:.0f} ms")
    details.append(f"  the till's client keeps idle connections {main['client_keepalive_s']} s (httpx pool, as "
                   f"built by open_till; configuration keepalive_s = {main['settings_keepalive_s']})")
    if main["real_time"]:
        details.append("  time: real (the payments were really that far apart)")
    else:
        details.append("  time: the idle time between payments is simulated: time.monotonic (read by httpcore's "
                       "keep-alive expiry and by both asyncio loops, uvicorn's 75 s timer included) is moved on")
        details.append("  by what is left of the interval after each payment, then 0.2 s of real time lets the "
                       "server run its due timers; no setting of the till or server is changed. Distinct client")
        details.append("  ports in the simulator's request log are the connections. --connections-real-time "
                       "waits the real interval instead.")


def git_state() -> str:
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h %cd", "--date=iso"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "git state unknown"
    return f"HEAD {head}; {len(dirty)} tracked file(s) changed in the tree"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny run of every measure (well under a minute)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated: " + ", ".join(SECTIONS))
    parser.add_argument("--connections-real-time", action="store_true",
                        help="wait the real 30 s between payments (100 payments: 50 minutes)")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    plan = Plan(args.quick)
    table = Table()
    details: list[str] = []
    started_at = datetime.now().astimezone()
    with tempfile.TemporaryDirectory(prefix="pos-bench-") as tmp:
        work = Path(tmp)
        os.environ["POS_DATA_DIR"] = str(work / "data")  # the model sale's journal etc.
        os.environ.pop("POS_CONFIG", None)
        for section in SECTIONS:
            if section not in sections:
                continue
            before = len(details)
            if section == "connections":
                connections(plan, work, table, details, args.connections_real_time)
            else:
                {"memory": memory, "startup": startup, "commits": commits,
                 "voucher": voucher}[section](plan, work, table, details)
            if len(details) > before:
                details.append("")
    took = time.perf_counter() - STARTED
    print(f"Till benchmark{' (--quick: a tiny run, figures not comparable)' if plan.quick else ''}, "
          f"{started_at:%Y-%m-%d %H:%M %Z}, {took:.0f} s; {git_state()}; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    print(table.render())
    print()
    print("\n".join(details).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
