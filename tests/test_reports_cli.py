"""``pos report ...`` (issue 17): the X report, the Z report (asks first, --yes,
refused while an order is open), a Z again by number and as CSV, the sales of a
period as CSV, the liability; bad input is said with exit code 2, never a traceback;
the reports in German within a 32-column printer."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from pos_app.cli import main
from pos_app.config import load_config
from pos_app.services.checkout import Till
from tests.conftest import CROISSANT, MERLOT, SIM_EGUMA, forwarded


@pytest.fixture
def sold(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> tuple[Path, Till]:
    path = write_config()
    till = till_factory(load_config(path))
    till.scan(MERLOT)
    asyncio.run(till.pay_cash(till.parse_amount("40")))
    till.scan(f"2*{CROISSANT}")
    asyncio.run(till.pay_card(till.parse_amount("5")))
    return path, till


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_x_then_z_with_yes_then_z_again_by_number(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str]) -> None:
    path, _till = sold
    code, out, _ = run(capsys, "--config", str(path), "report", "x")
    assert code == 0 and "X REPORT 1" in out and "Sales closed (2)" in out and "43.00" in out
    code, out, _ = run(capsys, "--config", str(path), "report", "z", "--yes")
    assert code == 0 and "Z REPORT 1" in out and "43.00" in out
    code, out, _ = run(capsys, "--config", str(path), "report", "x")
    assert "X REPORT 2" in out and "Sales closed (0)" in out  # the next day started
    code, again, _ = run(capsys, "report", "z", "--number", "1", "--config", str(path))
    assert code == 0 and "Z REPORT 1" in again and "43.00" in again


def test_z_asks_first(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    path, till = sold
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = run(capsys, "--config", str(path), "report", "z")
    assert code == 1 and "Close the day with Z report 1?" in err and "Day not closed." in err
    assert out == ""  # `report z > z.txt`: the question is seen, the file holds the report only
    assert till.journal.reports("Z") == []
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no answer (a script without --yes): not closed
    assert run(capsys, "--config", str(path), "report", "z")[0] == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, err = run(capsys, "--config", str(path), "report", "z")
    assert code == 0 and "Z REPORT 1" in out and "Close the day" in err and "Close the day" not in out
    assert [z.number for z in till.journal.reports("Z")] == [1]


def test_z_is_refused_while_an_order_is_open(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str]) -> None:
    path, till = sold
    till.scan(CROISSANT)
    code, _out, err = run(capsys, "--config", str(path), "report", "z", "--yes")
    assert code == 1 and "an order is open" in err
    assert till.journal.reports("Z") == []


def test_csv_of_a_z_and_of_the_sales_by_date(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    path, _till = sold
    run(capsys, "--config", str(path), "report", "z", "--yes")
    target = tmp_path / "z-1.csv"
    code, out, _ = run(capsys, "--config", str(path), "report", "z", "--number", "1", "--csv", str(target))
    assert code == 0 and str(target) in out
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [(r["type"], r["kind"], r["quantity"], r["amount"], r["vat_rate"], r["vat"]) for r in rows] == [
        ("sale", "product", "1", "38.00", "8.1", "2.85"), ("sale", "product", "2", "5.00", "2.6", "0.13"),
        ("payment", "cash", "", "38.00", "", ""), ("payment", "card", "", "5.00", "", "")]
    assert {r["z_number"] for r in rows} == {"1"} and rows[0]["order"] == "1-0001"
    today = date.today().isoformat()
    code, out, _ = run(capsys, "--config", str(path), "report", "sales", "--from", today, "--to", today)
    assert code == 0 and [r["amount"] for r in csv.DictReader(io.StringIO(out))] == ["38.00", "5.00", "38.00", "5.00"]
    code, out, _ = run(capsys, "--config", str(path), "report", "sales", "--from", "2020-01-01", "--to", "2020-01-31")
    assert code == 0 and out.count("\n") == 1  # the header only


def test_liability_says_the_provider_is_authoritative(sold: tuple[Path, Till],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, _till = sold
    today = date.today().isoformat()
    code, out, _ = run(capsys, "--config", str(path), "report", "liability", "--from", today, "--to", today)
    assert code == 0 and "VOUCHER LIABILITY" in out and "authoritative" in out


@pytest.mark.parametrize("args, message", [
    (["sales", "--from", "2026-02-30", "--to", "2026-03-01"], "'2026-02-30' is not a date"),
    (["sales", "--from", "1.12.2026", "--to", "2026-12-31"], "write it as YYYY-MM-DD"),
    (["sales", "--from", "20261201", "--to", "2026-12-31"], "'20261201' is not a date"),  # Python reads these
    (["liability", "--from", "2026-12-01", "--to", "2026-W53-1"], "'2026-W53-1' is not a date"),
    (["liability", "--from", "2026-12-31", "--to", "2026-12-01"], "ends (2026-12-01) before it starts"),
    (["z", "--number", "0"], "1 or more"),
    (["z", "--csv", "x.csv"], "--csv needs --number"),
])
def test_bad_input_is_said_with_exit_code_2(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str],
                                            args: list[str], message: str) -> None:
    path, _till = sold
    code, _out, err = run(capsys, "--config", str(path), "report", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_z_number_not_made_and_a_file_not_writable(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    path, _till = sold
    code, _out, err = run(capsys, "--config", str(path), "report", "z", "--number", "7")
    assert code == 1 and "no Z report number 7" in err
    run(capsys, "--config", str(path), "report", "z", "--yes")
    code, _out, err = run(capsys, "--config", str(path), "report", "z", "--number", "1", "--csv",
                          str(tmp_path / "missing" / "z.csv"))
    assert code == 1 and "cannot write" in err and "Traceback" not in err


def test_german_report_within_a_32_column_printer(write_config: Callable[..., Path],
                                                 till_factory: Callable[..., Till]) -> None:
    path = write_config(printer='kind = "dummy"\nwidth = 32')
    path.write_text(path.read_text(encoding="utf-8").replace('currency = "CHF"', 'currency = "CHF"\nlanguage = "de"'),
                    encoding="utf-8")
    till = till_factory(load_config(path))  # the till speaks the outlet's language
    till.scan(MERLOT)
    asyncio.run(till.pay_cash(till.parse_amount("40")))
    made = till.reports.x_report()
    text = till.journal.receipt(made.record.receipt_id).text
    assert "X-BERICHT 1" in text and "UMSATZ NACH MWST-SATZ (CHF)" in text and "GUTSCHEINE: VERBINDLICHKEIT" in text
    assert max(len(line) for line in text.splitlines()) <= 32
    data = till.journal.receipt(made.record.receipt_id).escpos
    assert b"X-BERICHT 1" in data and b"38.00" in data


@pytest.mark.parametrize("start, end", [("0001-01-01", "0001-01-02"), ("9999-12-31", "9999-12-31"),
                                        ("0001-01-01", "9999-12-31")])
@pytest.mark.parametrize("action", ["sales", "liability"])
def test_a_day_outside_the_dates_the_till_can_use_is_said_not_a_traceback(
        sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str], action: str, start: str, end: str) -> None:
    path, _till = sold
    code, _out, err = run(capsys, "--config", str(path), "report", action, "--from", start, "--to", end)
    assert code == 2 and "outside the dates this till can use" in err and "Traceback" not in err


def test_a_z_number_too_big_for_the_journal_is_no_z_report(sold: tuple[Path, Till],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path, _till = sold
    for number in ("9223372036854775808", "99999999999999999999999"):
        for extra in ([], ["--csv", "-"]):
            code, _out, err = run(capsys, "--config", str(path), "report", "z", "--number", number, *extra)
            assert code == 1 and f"no Z report number {number}" in err


def test_a_write_that_fails_names_the_file(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path, _till = sold
    today = date.today().isoformat()
    target = tmp_path / "full.csv"

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")  # as a write to /dev/full: no filename

    monkeypatch.setattr("builtins.open", lambda *a, **k: Full())
    code, _out, err = run(capsys, "--config", str(path), "report", "sales", "--from", today, "--to", today,
                          "--csv", str(target))
    assert code == 1 and f"cannot write {target}: No space left on device" in err and "None" not in err


def test_the_rows_said_are_the_csv_records_even_with_a_line_break_in_a_name(
        sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import sqlite3

    path, till = sold
    with sqlite3.connect(till.journal.path) as db:  # a catalog name with a line break (TOML "a\nb")
        db.execute("UPDATE lines SET name = 'Merlot\n75 cl' WHERE ean = ?", (MERLOT,))
    today = date.today().isoformat()
    target = tmp_path / "sales.csv"
    code, out, _ = run(capsys, "--config", str(path), "report", "sales", "--from", today, "--to", today,
                       "--csv", str(target))
    records = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert code == 0 and len(records) == 4 and records[0]["name"] == "Merlot\n75 cl"
    assert ": 4 rows written to" in out


def test_the_liability_writes_its_days_as_the_outlet_writes_a_date(write_config: Callable[..., Path],
                                                                   till_factory: Callable[..., Till],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config()
    path.write_text(path.read_text(encoding="utf-8").replace('currency = "CHF"', 'currency = "CHF"\nlanguage = "de"'),
                    encoding="utf-8")
    till = till_factory(load_config(path))
    till.scan(MERLOT)
    asyncio.run(till.pay_cash(till.parse_amount("40")))
    code, out, _ = run(capsys, "--config", str(path), "report", "liability", "--from", "2026-12-01", "--to",
                       "2026-12-31")
    assert code == 0 and "01.12.2026" in out and "31.12.2026" in out and "2026-12-01" not in out


@pytest.mark.parametrize("suffix", ["", "-wal", ".last-number"])
def test_a_csv_is_never_written_over_the_journal(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path, suffix: str) -> None:
    """`--csv` naming the journal (a slip of tab completion) would replace every sale
    with a CSV: refused, the journal untouched, also through a link to it."""
    path, till = sold
    journal = till.journal.path
    run(capsys, "--config", str(path), "report", "z", "--yes")
    name = journal.with_name(journal.name + suffix)
    name.touch(exist_ok=True)
    before = name.read_bytes()
    link = tmp_path / "link.csv"
    link.symlink_to(name)
    today = date.today().isoformat()
    for target in (str(name), str(link)):
        for args in (["sales", "--from", today, "--to", today, "--csv", target],
                     ["z", "--number", "1", "--csv", target]):
            code, _out, err = run(capsys, "--config", str(path), "report", *args)
            assert code == 2 and "one of the till's journal files" in err
    assert name.read_bytes() == before
    assert till.journal.pragma("integrity_check") == "ok"


def test_store_report_on_a_till_journal(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str]) -> None:
    path, _till = sold
    today = date.today().isoformat()
    code, out, _ = run(capsys, "--config", str(path), "report", "store", "--from", today, "--to", today)
    assert code == 0 and "STORE REPORT, ALL TILLS" in out and "Sales closed (2)" in out and "43.00" in out
    code, _out, err = run(capsys, "--config", str(path), "report", "store", "--from", today, "--to", "2020-01-01")
    assert code == 2 and "before it starts" in err


def test_store_report_on_the_journal_server_sums_every_till(
        pg_url: str, write_config: Callable[..., Path], till_factory: Callable[..., Till],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two tills of the outlet forward their journals to the server; `pos report store`
    reads every till's sales there; a till's own X/Z is made from its own journal."""
    tills = []
    for till_id in ("1", "2"):
        path = write_config(SIM_EGUMA.format(timeout=2) + f'\n[journal]\nurl = "{pg_url}"\n',
                            name=f"till{till_id}.toml")
        path.write_text(path.read_text(encoding="utf-8").replace('till = "1"', f'till = "{till_id}"'),
                        encoding="utf-8")
        tills.append((path, till_factory(load_config(path))))
    (path_one, one), (path_two, two) = tills
    one.scan(MERLOT)
    asyncio.run(one.pay_cash(one.parse_amount("40")))
    two.scan(f"2*{CROISSANT}")
    asyncio.run(two.pay_card(two.parse_amount("5")))
    two.scan(MERLOT)  # 38.00, paid by an E-GUMA voucher (50.00 on it) at till 2

    async def pay_voucher() -> None:
        check = await two.vouchers.check("L4FU5LQTKJR3")
        await two.vouchers.pay(check)

    asyncio.run(pay_voucher())
    forwarded(one, two)
    today = date.today().isoformat()
    code, out, err = run(capsys, "--config", str(path_one), "report", "store", "--from", today, "--to", today)
    assert code == 0, err
    assert "STORE REPORT, ALL TILLS" in out and "Sales closed (3)" in out and "81.00" in out
    code, out, err = run(capsys, "--config", str(path_one), "report", "liability", "--store", "--from", today,
                         "--to", today)
    assert code == 0, err
    assert "E-GUMA" in out and "38.00" in out  # redeemed at till 2, read from till 1's configuration
    # a till's own X and Z: from its own journal, of its own sales only
    code, out, err = run(capsys, "--config", str(path_one), "report", "x")
    assert code == 0 and "X REPORT 1" in out and "Sales closed (1)" in out and "38.00" in out, err
    code, out, _ = run(capsys, "--config", str(path_two), "report", "x")
    assert "X REPORT 1" in out and "Sales closed (2)" in out and "43.00" in out


def test_store_z_adds_up_the_z_report_of_every_till(
        pg_url: str, write_config: Callable[..., Path], till_factory: Callable[..., Till],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each till closes its own day (its Z, forwarded by the till); `pos report store-z`
    closes the store's: one report numbered per outlet adding up the till Z reports no
    store Z holds yet, each in exactly one; a till that sold after its last Z is named
    and waits for a later store Z; a store Z is shown again the same."""
    import psycopg

    paths, tills = [], []
    for till_id in ("1", "2"):
        path = write_config(f'\n[journal]\nurl = "{pg_url}"\n', name=f"till{till_id}.toml")
        path.write_text(path.read_text(encoding="utf-8").replace('till = "1"', f'till = "{till_id}"'),
                        encoding="utf-8")
        paths.append(str(path))
        tills.append(till_factory(load_config(path)))
    (one, two), (path_one, path_two) = tills, paths
    one.scan(MERLOT)
    asyncio.run(one.pay_cash(one.parse_amount("40")))
    two.scan(f"2*{CROISSANT}")
    asyncio.run(two.pay_card(two.parse_amount("5")))
    forwarded(one, two)
    code, _out, err = run(capsys, "--config", path_one, "report", "store-z", "--yes")
    assert code == 1 and "no till has closed its day yet" in err

    for path in paths:  # each till's day, closed from the command line: the Z waits in the till's outbox
        code, out, err = run(capsys, "--config", path, "report", "z", "--yes")
        assert code == 0 and "Z REPORT 1" in out, err
    forwarded(one, two)  # the running tills forward them
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = run(capsys, "--config", path_two, "report", "store-z")
    assert code == 1 and out == "" and "Store day not closed" in err
    assert "store Z report 1? It adds up:" in err and "till 1: Z 1" in err and "till 2: Z 1" in err

    code, first, err = run(capsys, "--config", path_two, "report", "store-z", "--yes")
    assert code == 0, err
    assert "STORE Z REPORT 1" in first and "All tills" in first and "TILL Z REPORTS" in first
    assert "Sales closed (2)" in first and "43.00" in first and "NOT IN THIS STORE Z" not in first
    with psycopg.connect(pg_url) as conn:
        store = json.loads(conn.execute("SELECT figures FROM store_z_reports WHERE number=1").fetchone()[0])
        till_zs = [json.loads(f) for (f,) in conn.execute(
            "SELECT figures FROM till_z_reports WHERE store_z=1 ORDER BY till").fetchall()]
    assert [z["sales"]["gross"] for z in till_zs] == [3800, 500] and store["sales"]["gross"] == 4300
    assert store["net_vat"] == {"2.6": [487, 13, 500], "8.1": [3515, 285, 3800]}
    assert store["sales"]["tenders"] == {"card:": [1, 500], "cash:": [1, 3800]}
    assert store["tills"] == [["1", 1], ["2", 1]]
    code, _out, err = run(capsys, "--config", path_one, "report", "store-z", "--yes")
    assert code == 1 and "no till has closed its day since store Z report 1" in err

    one.scan(CROISSANT)  # till 1 sells on, without a Z; till 2 closes an empty day
    asyncio.run(one.pay_cash(one.parse_amount("2.50")))
    code, _out, err = run(capsys, "--config", path_two, "report", "z", "--yes")
    assert code == 0, err
    forwarded(one, two)
    code, second, err = run(capsys, "--config", path_one, "report", "store-z", "--yes")
    assert code == 0, err
    assert "STORE Z REPORT 2" in second and "Sales closed (0)" in second
    assert "NOT IN THIS STORE Z (no Z report yet)" in second and "1 sale" in second
    code, again, _err = run(capsys, "--config", path_one, "report", "store-z", "--number", "1")
    assert code == 0 and again == first  # the same figures, dated when it was made
    code, _out, err = run(capsys, "--config", path_one, "report", "store-z", "--number", "3")
    assert code == 1 and "no store Z report number 3" in err


def test_store_z_needs_the_journal_server(sold: tuple[Path, Till], capsys: pytest.CaptureFixture[str]) -> None:
    path, _till = sold
    code, out, err = run(capsys, "--config", str(path), "report", "store-z", "--yes")
    assert code == 2 and out == "" and "[journal] url" in err and "pos report z" in err
