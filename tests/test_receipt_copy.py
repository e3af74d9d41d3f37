"""A receipt printed a second time (F7) carries a COPY mark at its top and bottom;
the first print has none, also when it comes from F7 after a failed print."""

from __future__ import annotations


from drivers.printer import DummyPrinter, PrinterError
from pos_app import i18n
from pos_app.config import Config
from pos_app.receipts import mark_copy
from pos_app.services.checkout import Till
from pos_app.services.setup import open_till
from pos_app.ui.app import PosApp
from tests.conftest import CROISSANT
from tests.test_receipt_width import printed
from tests.uihelpers import scan, settle, text

SIZE = (100, 30)
MARK = "*** COPY ***"


def body(lines: list[str]) -> list[str]:
    return [line for line in lines if line != MARK]


async def test_reprint_is_marked_copy_at_top_and_bottom(till: Till) -> None:
    till.scan(CROISSANT)
    closed = (await till.pay_card(till.order.remaining)).closed
    assert closed is not None
    assert (await till.print_receipt(closed.receipt_id)).ok
    (again,) = till.receipts_to_reprint()  # F7: nothing unprinted, so the last receipt
    assert again.id == closed.receipt_id and again.printed_at is not None
    assert (await till.print_receipt(again.id)).ok
    first, second = till.printer.jobs
    original, _ = printed(first)
    copy, _ = printed(second)
    assert MARK not in original and "COPY" not in " ".join(original)
    assert copy[0] == MARK and copy[-1] == MARK and copy.count(MARK) == 2
    assert body(copy) == original  # the same receipt between the marks
    assert second.startswith(b"\x1b@\x1bt\x13\x1bE\x01\x1ba\x01*** COPY ***\n")  # bold, centred, first
    assert second.endswith(b"\x1bE\x01\x1ba\x01*** COPY ***\n\x1bE\x00\x1ba\x00\x1bd\x06\x1dV\x00")  # then the cut
    assert till.journal.receipt(closed.receipt_id).escpos == first  # the journal keeps the original


class FailingOnce(DummyPrinter):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    def send(self, data: bytes) -> None:
        if self.fail:
            self.fail = False
            raise PrinterError("printer offline")
        super().send(data)


async def test_first_print_after_a_failure_is_the_original(config: Config) -> None:
    till = open_till(config, printer=FailingOnce())
    try:
        till.scan(CROISSANT)
        closed = (await till.pay_card(till.order.remaining)).closed
        assert closed is not None
        assert not (await till.print_receipt(closed.receipt_id)).ok  # nothing came out
        (unprinted,) = till.receipts_to_reprint()
        assert (await till.print_receipt(unprinted.id)).ok  # F7: the first print that came out
        assert (await till.print_receipt(unprinted.id)).ok  # F7 again: now a copy
        first, second = till.printer.jobs  # type: ignore[attr-defined]
        assert MARK not in printed(first)[0] and printed(second)[0][0] == MARK
    finally:
        till.journal.close()


async def test_f7_prints_a_copy(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f4", "enter")
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        assert "printed" in text(pilot, "#status")
    first, second = till.printer.jobs
    assert second == mark_copy(first, width=42) and printed(second)[0][0] == MARK
    assert MARK not in printed(first)[0]


def test_copy_mark_is_translated_and_fits() -> None:
    i18n.use(i18n.PSEUDO)
    data = b"\x1b@\x1bt\x13" + b"x" * 32 + b"\n\x1bd\x06\x1dV\x00"
    lines, _ = printed(mark_copy(data, width=32))
    assert lines == ["*** ?COPY? ***", "x" * 32, "*** ?COPY? ***"]  # ⟦ ⟧ lack in CP858: "?"
    lines, _ = printed(mark_copy(data, width=12))  # too narrow for the stars: the word alone
    assert lines[0] == "?COPY?"
