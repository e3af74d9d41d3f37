"""Every text the till shows goes through the catalogs.

The real app runs in the pseudo language (``i18n.PSEUDO``), in which every
translated text comes back as ``⟦text⟧``. The test visits the checkout with an
order (products, a voucher payment, cash), each dialog and the F12 screen, and
reads what the terminal shows: once the marked texts and the data (product
names, codes, amounts, times, the outlet's and providers' names, key names) are
taken away, no word may be left. A text written without ``_()`` shows up as a
word outside ⟦…⟧ and fails the test with the screen it was on.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from pos_app import i18n
from pos_app.config import load_config
from pos_app.services import setup
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from tests.conftest import ESPRESSO, MERLOT, SIM_EGUMA_QUICK
from tests.uihelpers import scan, screen_text, settle

# A marked text, innermost first: a translated message may hold another ("⟦⟦Voucher
# …KJR3 paid 50.00⟧ — 2.90 still to pay⟧"); a wrapped one goes on the next line.
MARKED = re.compile(re.escape(i18n.PSEUDO_OPEN) + f"[^{i18n.PSEUDO_OPEN}{i18n.PSEUDO_CLOSE}]*"
                    + re.escape(i18n.PSEUDO_CLOSE))
# Data, not the till's wording: shown as it is in every language.
DATA = [
    "Espresso beans 500 g", "Merlot 75 cl", "Test Shop Zürich", "test-outlet", "E-GUMA", "CHF",
    "Der Gutschein", "sqlite", "dummy",  # the simulator's German words are inside «…»; paths, printer kind
]
DATA_PATTERNS = [
    re.compile(r"«[^»]*»"),  # a provider's own words, labelled by a marked text
    re.compile(r"/\S+"),  # file paths (journal, printer)
    re.compile(r"\b(?:F\d{1,2}|Ctrl\+\w)\b"),  # key names
    re.compile(r"…?[A-Z0-9]{4}(?:-[A-Z0-9]{4}){0,2}\b"),  # voucher codes, masked or typed
    re.compile(r"\b\d[\d'’.,:%-]*"),  # amounts, rates, times, order numbers
    re.compile(r"keyring\S*|\w+Keyring\b|\(file\b"),  # the keyring backend's own name
]


def unmarked(screen: str) -> list[str]:
    """Words on ``screen`` that are neither marked nor data."""
    rest, before = screen, None
    while rest != before:
        before, rest = rest, MARKED.sub(" ", rest)
    for data in DATA:
        rest = rest.replace(data, " ")
    for pattern in DATA_PATTERNS:
        rest = pattern.sub(" ", rest)
    return re.findall(r"[^\W\d_]{2,}", rest)


def check(pilot: Pilot, where: str, seen: dict[str, str]) -> None:
    text = screen_text(pilot)
    seen[where] = text
    words = unmarked(text)
    assert not words, f"unmarked text on the {where} screen: {words}\n{text}"


def test_unmarked_text_is_found() -> None:
    """The check itself: a word outside the marks is found, data is not."""
    assert unmarked("⟦Total⟧ 17.40 │ F2 ⟦Voucher⟧ Espresso beans 500 g …KJR3 E-GUMA CHF 12:30") == []
    assert unmarked("⟦Total⟧ 17.40\nRemaining 2.90") == ["Remaining"]
    assert unmarked("⟦Take the payment on the card\n│ terminal⟧ Amount") == ["Amount"]
    assert unmarked("⟦⟦Voucher …KJR3 paid 50.00⟧ — 2.90 still to pay⟧") == []
    assert unmarked("⟦Voucher …KJR3 paid 50.00⟧ — 2.90 still to pay") == ["still", "to", "pay"]
    assert unmarked("⟦Qty") == ["Qty"]  # a mark cut off is no mark


async def test_every_text_on_screen_is_translated(write_config: Callable[..., Path],
                                                  till_factory: Callable[..., Till],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  request: pytest.FixtureRequest) -> None:
    # The outlet speaks the pseudo language from the moment the till is opened (it words
    # its printer and providers then), as it would speak its configured one.
    monkeypatch.setattr(setup, "use_outlet_language", lambda config: i18n.use(i18n.PSEUDO))
    # The journal's path is shown on F12, wrapped where it is longer than the dialog: a
    # short data folder keeps it on one line (pytest-xdist's temporary paths are long).
    short = Path(tempfile.mkdtemp(prefix="pos-"))
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    monkeypatch.setenv("POS_DATA_DIR", str(short))
    till = till_factory(load_config(write_config(SIM_EGUMA_QUICK.format(timeout=0.5))))
    seen: dict[str, str] = {}
    async with PosApp(till).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        check(pilot, "empty checkout", seen)
        await scan(pilot, ESPRESSO)
        await scan(pilot, MERLOT)  # 52.90
        await pilot.press("f2")
        await scan(pilot, "L4FU-5LQT-KJR3")  # 50.00 on it
        await settle(pilot)
        check(pilot, "voucher dialog, checked", seen)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        check(pilot, "cash dialog", seen)
        amount = pilot.app.screen.query_one("#amount", Input)
        amount.value = ""
        await pilot.press(*"9.999", "enter")
        await settle(pilot)
        check(pilot, "cash dialog, refused amount", seen)
        amount.value = ""
        await pilot.press("1", "enter")  # 1.00 of 2.90: a cash line, the order stays open
        await settle(pilot)
        check(pilot, "checkout with products, voucher and cash", seen)
        await pilot.press("up")
        await settle(pilot)
        check(pilot, "checkout with a selected line", seen)
        await pilot.press("f4")
        await settle(pilot)
        check(pilot, "card dialog", seen)
        await pilot.press("escape", "f5")
        await scan(pilot, "EADS-HD24-AKS5")
        await settle(pilot)
        check(pilot, "sell gift voucher dialog", seen)
        await pilot.press("escape", "f6")
        await scan(pilot, "USED-UP00-0001")
        await settle(pilot)
        check(pilot, "balance dialog", seen)
        await pilot.press("escape", "f9")
        await settle(pilot)
        check(pilot, "cancel question", seen)
        await pilot.press("escape")
        await settle(pilot)
        check(pilot, "checkout after 'keep it'", seen)
        await pilot.press("f10")
        await settle(pilot)
        check(pilot, "F10 reports", seen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        check(pilot, "F12 status", seen)
        await pilot.press("escape")
        await settle(pilot)
    # the tour saw what it meant to see (a screen that did not open proves nothing)
    assert "⟦Voucher payment⟧" in seen["voucher dialog, checked"]
    assert "50.00" in seen["voucher dialog, checked"]
    assert "⟦Amount given⟧" in seen["cash dialog, refused amount"]  # still open, saying why
    assert "9.999" in seen["cash dialog, refused amount"]
    assert "⟦Cash given⟧" in seen["checkout with products, voucher and cash"]
    assert "…KJR3" in seen["checkout with products, voucher and cash"]
    assert "⟦Sell gift voucher⟧" in seen["sell gift voucher dialog"]
    assert "⟦Balance check⟧" in seen["balance dialog"]
    assert "⟦Cancel order⟧" in seen["cancel question"]
    assert "⟦Providers⟧" in seen["F12 status"]
    for key in ("F2", "F3", "F12"):
        assert key in seen["empty checkout"]
