"""F1, digital vouchers (CSQ), driven with Pilot: choose a product, give what it
needs, the line goes on the order; paid, the voucher is bought and its code
printed; a refused one is taken off the order and its money given back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from pos_app.config import load_config
from pos_app.services.checkout import CheckoutError, Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.digital import DigitalVoucherDialog
from tests.conftest import SIM_EGUMA
from tests.uihelpers import rows, screen_text, settle, table_rows, text

SIZE = (80, 24)

CSQ = """
[providers.csq]
base_url = "sim://csq"
terminal_id = "173101"
timeout_s = 1
settle_s = 3

[[providers.csq.products]]
operator_id = 4101
name = "City Gift Card"
currency = "CHF"
amounts = ["20.00", "50.00", "100.00"]

[[providers.csq.products]]
operator_id = 4102
name = "E-Gift Card (e-mail)"
currency = "CHF"
min = "10.00"
max = "200.00"

[[providers.csq.products]]
operator_id = 9991
name = "Prepaid PIN (test)"
currency = "CHF"
min = "1.00"
max = "1000.00"

[[providers.csq.products]]
operator_id = 4201
name = "Charity Raffle"
currency = "CHF"
dynamic = true
"""


@pytest.fixture
def csq_till(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> Iterator[Till]:
    till = till_factory(load_config(write_config(CSQ)))
    sim(till).indexing_delay_s = 0  # transaction info answers at once
    yield till


def sim(till: Till) -> Any:
    return till.providers["csq"].simulator


def dialog(pilot: Any) -> DigitalVoucherDialog:
    screen = pilot.app.screen
    assert isinstance(screen, DigitalVoucherDialog)
    return screen


async def choose(pilot: Any, key: str) -> None:
    """A product by its number; the provider's answer (fields, products) waited for."""
    await pilot.press(key)
    await settle(pilot)


async def type_into(pilot: Any, selector: str, value: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*value)


async def pay_cash(pilot: Any, amount: str) -> None:
    await pilot.press("f3", *amount, "enter")
    await settle(pilot)


async def test_f1_sells_a_gift_card_bought_at_close_with_its_code_on_the_receipt(csq_till: Till) -> None:
    till = csq_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        assert "F1 Digital" in screen_text(pilot)  # in the footer at 80×24, every other key too
        for key in ("F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F12"):
            assert f"{key} " in screen_text(pilot)
        await pilot.press("f1")
        shown = screen_text(pilot)
        assert "1  City Gift Card (20.00, 50.00, 100.00)" in shown
        assert "2  E-Gift Card (e-mail) (10.00–200.00)" in shown
        assert "3  Prepaid PIN (test) (1.00–1'000.00)" in shown
        await choose(pilot, "1")
        assert "Type the amount: 20.00, 50.00, 100.00" in screen_text(pilot)
        assert pilot.app.focused is pilot.app.screen.query_one("#amount", Input)
        await pilot.press("3", "0", "enter")  # not one of its amounts
        assert "City Gift Card is sold for 20.00, 50.00, 100.00" in text(pilot, "#error")
        assert isinstance(pilot.app.screen, DigitalVoucherDialog)
        await type_into(pilot, "#amount", "50")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#lines") == [["1", "City Gift Card", "50.00", "50.00", "—"]]
        assert "Added City Gift Card 50.00" in text(pilot, "#status")
        assert "VAT" not in text(pilot, "#totals")  # VAT 0: no VAT line
        await pay_cash(pilot, "50")
        assert "Order 1-0001 closed" in text(pilot, "#status"), text(pilot, "#status")
    (purchase,) = sim(till).purchases()
    assert (purchase.resultcode, purchase.amount_x100) == ("10", 5000)
    ((receipt_id,),) = rows(till.journal.path, "SELECT id FROM receipts")
    receipt = till.journal.receipt(receipt_id).text
    assert "City Gift Card" in receipt and f"Code: {purchase.voucher_code}" in receipt


async def test_a_required_field_is_asked_for_and_the_range_shown(csq_till: Till) -> None:
    till = csq_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f1", "down", "down", "enter")  # ↓/↓ Enter: the third product
        await settle(pilot)
        shown = screen_text(pilot)
        assert "Prepaid PIN (test) from CSQ" in shown and "Type the amount: 1.00 to 1'000.00" in shown
        assert "Account" in shown or "account" in shown
        await pilot.press("enter")  # nothing typed
        assert "required" in text(pilot, "#error")
        assert pilot.app.focused is pilot.app.screen.query_one("#field-0", Input)
        await pilot.press(*"4711000", "enter")  # fine: on to the amount
        assert text(pilot, "#error") == ""
        assert pilot.app.focused is pilot.app.screen.query_one("#amount", Input)
        await pilot.press(*"1000.01", "enter")
        assert "Prepaid PIN (test) is sold for 1.00 to 1'000.00" in text(pilot, "#error")
        assert isinstance(pilot.app.screen, DigitalVoucherDialog)
        await type_into(pilot, "#amount", "15")
        await pilot.press("enter")
        await settle(pilot)
        assert table_rows(pilot, "#lines") == [["1", "Prepaid PIN (test)", "15.00", "15.00", "—"]]
    (line,) = till.order.active_lines
    assert line.details == {"account": "4711000"}


async def test_a_refused_voucher_is_taken_off_and_its_money_given_back(csq_till: Till) -> None:
    till = csq_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await choose(pilot, "1")
        await pilot.press("2", "0", "enter")
        await settle(pilot)
        await pilot.press("f1")
        await choose(pilot, "3")
        await pilot.press(*"4711001", "enter", *"10", "enter")  # suffix 001: CSQ refuses it (971)
        await settle(pilot)
        assert [r[1] for r in table_rows(pilot, "#lines")] == ["City Gift Card", "Prepaid PIN (test)"]
        await pay_cash(pilot, "30")
        status = text(pilot, "#status")
        assert "Prepaid PIN (test) 10.00 not bought" in status and "taken off the order" in status, status
        assert "10.00" in text(pilot, "#balance")  # the change: its money back
    assert [p.resultcode for p in sim(till).purchases()] == ["10", "971"]


async def test_an_e_mail_is_checked(csq_till: Till) -> None:
    async with PosApp(csq_till).run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await choose(pilot, "2")
        await pilot.press(*"anna.example.ch", "enter")
        assert "not an e-mail address" in text(pilot, "#error")
        await type_into(pilot, "#field-0", "anna@example.ch")
        await pilot.press("enter", *"25", "enter")
        await settle(pilot)
        assert table_rows(pilot, "#lines") == [["1", "E-Gift Card (e-mail)", "25.00", "25.00", "—"]]
    assert csq_till.order.active_lines[0].details == {"receiverEmail": "anna@example.ch"}


async def test_a_dynamic_product_lists_the_providers_products(csq_till: Till) -> None:
    async with PosApp(csq_till).run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await choose(pilot, "4")
        assert "Choose the product of Charity Raffle" in screen_text(pilot)
        names = [item.offer.name for item in dialog(pilot).choices]
        assert names and dialog(pilot).step == "products"
        await pilot.press("escape")  # back to the configured products
        assert dialog(pilot).step == "offers" and "City Gift Card" in screen_text(pilot)
        await choose(pilot, "4")
        await choose(pilot, "1")  # a product at its own price: nothing to type
        assert "Amount CHF" in screen_text(pilot) and dialog(pilot).step == "details"
        await pilot.press("enter")
        await settle(pilot)
        assert [r[1] for r in table_rows(pilot, "#lines")] == [names[0]]


async def test_escape_backs_out_without_adding_anything(csq_till: Till) -> None:
    async with PosApp(csq_till).run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await choose(pilot, "3")
        await pilot.press(*"4711000")
        await pilot.press("escape")  # back to the list
        assert dialog(pilot).step == "offers"
        await pilot.press("escape")  # closed
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#lines") == []
    assert csq_till.order.is_empty


async def test_f1_is_not_there_without_a_seller_of_digital_vouchers(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=5))))
    assert not till.digital.available
    async with PosApp(till).run_test(size=SIZE) as pilot:
        assert "Digital" not in screen_text(pilot) and "F2 Voucher" in screen_text(pilot)
        await pilot.press("f1")
        assert isinstance(pilot.app.screen, CheckoutScreen)


async def test_the_dialog_says_it_waits_for_the_provider_and_escape_lets_go(
        csq_till: Till, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = asyncio.Event()
    real = csq_till.digital.fields

    async def slow(item: Any) -> Any:
        await answer.wait()
        return await real(item)

    monkeypatch.setattr(csq_till.digital, "fields", slow)
    async with PosApp(csq_till).run_test(size=SIZE) as pilot:
        await pilot.press("f1", "3")
        await pilot.pause()
        assert "Asking CSQ what Prepaid PIN (test) needs…" in text(pilot, "#note")
        await pilot.press("escape")  # the screen answers meanwhile: back to the list
        assert dialog(pilot).step == "offers" and not dialog(pilot).busy
        assert text(pilot, "#note") == ""
        answer.set()
        await settle(pilot)
        assert dialog(pilot).step == "offers"  # the late answer changes nothing


async def test_a_provider_that_cannot_answer_is_said_in_the_dialog(
        csq_till: Till, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(item: Any) -> Any:
        raise CheckoutError("CSQ is not reachable — try again")

    monkeypatch.setattr(csq_till.digital, "fields", refused)
    async with PosApp(csq_till).run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await choose(pilot, "1")
        assert "CSQ is not reachable" in text(pilot, "#error")
        assert dialog(pilot).step == "offers" and not dialog(pilot).busy
        assert "1  City Gift Card" in screen_text(pilot)
