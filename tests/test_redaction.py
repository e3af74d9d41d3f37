"""Provider texts are redacted before they are cut, shown, printed or stored;
voucher codes in log lines are masked; an unreadable answer is a typed error.

The key (26 characters, like the canary's) is echoed by a provider in every
way it plausibly could: verbatim in a 200 answer's ``message``, cut by the
provider itself, JSON-escaped, percent-encoded.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from pos_app.config import load_config
from pos_app.domain.money import Money
from pos_app.files import setup_log_file
from pos_app.providers.base import (
    REDACTED,
    BadResponse,
    OpContext,
    RefusedError,
    UnknownOutcome,
    clean_log_text,
    install_httpx_log_redaction,
    mask_codes_in_paths,
    redact,
)
from pos_app.providers.eguma.client import EgumaClient
from pos_app.providers.http import MAX_SHOWN_BODY, ProviderHttp
from pos_app.services.checkout import CheckoutError, Till
from tests.conftest import MERLOT, SIM_EGUMA, sim_of
from tests.uihelpers import rows

KEY = "CANARY-eguma-apikey-7f3a9c"  # 26 characters
SLASHED_KEY = "k3y/with+special=chars&more"  # what a JSON or a URL escapes
PAID = "L4FU5LQTKJR3"


def eguma(handler: Callable[[httpx.Request], httpx.Response], key: str = KEY) -> EgumaClient:
    return EgumaClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), key, "http://eguma.test")


def fragments(secret: str, size: int = 8) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def assert_no_part_of(secret: str, text: str) -> None:
    leaked = [f for f in fragments(secret) if f in text]
    assert not leaked, f"{leaked[0]!r} of the key is in {text!r}"


# -- a 200 answer's texts -------------------------------------------------------------
async def test_a_message_in_a_200_answer_is_redacted() -> None:
    body = {"code": PAID, "is_redeemable": False, "balance_in_cents": 0, "currency": "CHF",
            "message": f"Gesperrt: Schlüssel {KEY}, ?apikey={KEY} ungültig"}
    balance = await eguma(lambda r: httpx.Response(200, json=body)).balance(PAID)
    assert balance.message == f"Gesperrt: Schlüssel {REDACTED}, ?apikey={REDACTED} ungültig"


async def test_every_string_of_an_answer_is_redacted_however_deep() -> None:
    http = ProviderHttp(httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(
        200, json={"a": [{"b": {"c": f"x {KEY} y"}}, KEY], KEY: 1, "n": 5, "ok": True}))),
        provider="acme", display_name="ACME", timeout_s=1.0, secrets=(KEY,))
    data = await http.json_object("GET", "http://acme.test/x", operation="lookup")
    assert data == {"a": [{"b": {"c": f"x {REDACTED} y"}}, REDACTED], REDACTED: 1, "n": 5, "ok": True}


# -- error texts: redacted before the cut, in every form ------------------------------------
@pytest.mark.parametrize("echo", [KEY, f"?apikey={KEY}", f"Bearer {KEY}"])
@pytest.mark.parametrize("where", [274, 286, 292])
async def test_a_key_cut_by_the_provider_leaves_nothing_behind(where: int, echo: str) -> None:
    """The provider echoes our request cut at 300 characters: the key's first part is in the body
    (at 286, 14 of its 26 characters)."""
    body = ("x" * where + echo)[:300]
    with pytest.raises(RefusedError) as info:
        await eguma(lambda r: httpx.Response(400, text=body)).balance(PAID)
    shown = str(info.value) + " " + info.value.provider_message
    assert_no_part_of(KEY, shown)
    assert not any(shown.endswith(KEY[:k]) for k in range(6, len(KEY)))


async def test_a_key_after_character_286_of_a_long_400_body_is_masked_whole() -> None:
    body = "x" * 286 + KEY + "y" * 500
    with pytest.raises(RefusedError) as info:
        await eguma(lambda r: httpx.Response(400, text=body)).balance(PAID)
    shown = info.value.provider_message
    assert len(shown) <= MAX_SHOWN_BODY and shown.endswith(REDACTED + "y" * 11)
    assert_no_part_of(KEY, shown)


@pytest.mark.parametrize("form", [json.dumps(SLASHED_KEY)[1:-1].replace("/", "\\/"),  # PHP's json_encode
                                  quote(SLASHED_KEY, safe=""), quote_plus(SLASHED_KEY),
                                  html.escape(SLASHED_KEY)])
async def test_an_escaped_key_in_an_error_body_is_masked(form: str) -> None:
    body = json.dumps({"error": "x" * 200})[:-1] + f', "echo": "{form}"}}'
    with pytest.raises(RefusedError) as info:
        await eguma(lambda r: httpx.Response(400, text=body), key=SLASHED_KEY).balance(PAID)
    assert_no_part_of(SLASHED_KEY, info.value.provider_message)
    assert_no_part_of(quote(SLASHED_KEY, safe=""), info.value.provider_message)
    assert REDACTED in info.value.provider_message


def test_redact_masks_fragments_but_not_ordinary_text() -> None:
    assert redact(f"ends with {KEY[:14]}", KEY) == f"ends with {REDACTED}"
    assert redact(f"{KEY[-9:]} starts it", KEY) == f"{REDACTED} starts it"
    assert redact(f"a {KEY[3:17]} b", KEY) == f"a {REDACTED} b"
    assert redact("Gutschein nicht vorhanden", KEY) == "Gutschein nicht vorhanden"


# -- unreadable answers ---------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000])
async def test_a_deeply_nested_answer_is_a_bad_response(body: bytes) -> None:
    client = eguma(lambda r: httpx.Response(200, content=body))
    with pytest.raises(BadResponse) as got:
        await client.balance(PAID)
    assert not isinstance(got.value, UnknownOutcome)
    with pytest.raises(UnknownOutcome) as posted:  # a POST answered so may have happened
        await client.authorize(PAID, Money(100, "CHF"), OpContext("test-1-000001", None, datetime.now()))
    assert isinstance(posted.value, BadResponse)
    for exc in (got.value, posted.value):
        assert exc.__cause__ is None and exc.__context__ is None


# -- through the till: screen, balance slip, journal ------------------------------------------
async def test_the_key_in_a_200_message_reaches_no_screen_slip_or_journal(
    write_config: Callable[..., Path], till_factory: Callable[..., Till], tmp_path: Path,
) -> None:
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=1.0))))
    sim = sim_of(till)
    key = "demo-outlet-key"  # the simulator's
    answer = {"code": PAID, "is_redeemable": False, "balance_in_cents": 0, "currency": "CHF",
              "total_amount_in_cents": 10000, "message": f"Gesperrt für {key}"}
    sim.fail_next(1, 200, json.dumps(answer), "application/json")
    slip = await till.vouchers.check(PAID, for_payment=False)
    receipt_id = till.store_balance_slip(slip)
    assert (await till.print_receipt(receipt_id)).ok
    till.scan(MERLOT)
    sim.fail_next(1, 200, json.dumps(answer), "application/json")
    shown = ""
    try:
        check = await till.vouchers.check(PAID)
        shown = str(check.reason)
    except CheckoutError as exc:
        shown = str(exc)
    till.journal.close()
    stored = rows(till.journal.path, "SELECT text, escpos FROM receipts")
    assert stored, "the slip was journaled"
    everything = [shown, slip.balance.message, till.printer.output.decode("cp858", "replace"),  # type: ignore[attr-defined]
                  *(t for t, _ in stored), *(bytes(e).decode("cp858", "replace") for _, e in stored)]
    assert all(key not in text for text in everything), everything
    assert "Gesperrt für ***" in shown and any("Gesperrt f" in t and "***" in t for t, _ in stored)


# -- log lines ------------------------------------------------------------------------------
def test_codes_in_urls_and_paths_keep_their_last_four() -> None:
    line = ('HTTP Request: GET https://api.e-guma.ch/v1/vouchers/L4FU5LQTKJR3/balance.json?apikey=*** '
            '"HTTP/1.1 200 OK"')
    assert mask_codes_in_paths(line) == (
        'HTTP Request: GET https://api.e-guma.ch/v1/vouchers/…KJR3/balance.json?apikey=*** "HTTP/1.1 200 OK"')
    assert mask_codes_in_paths("POST /v1/depot_vouchers/EADSHD24AKS5/activate.json 200") == \
        "POST /v1/depot_vouchers/…AKS5/activate.json 200"
    assert mask_codes_in_paths("GET http://127.0.0.1:8765/v2/cards/168-12345-67890/charge") == \
        "GET http://127.0.0.1:8765/v2/cards/…7890/charge"
    assert mask_codes_in_paths("GET http://sim/v1/vouchers/ABCDEFGHJK/balance.json") == \
        "GET http://sim/v1/vouchers/…GHJK/balance.json"
    untouched = "GET http://eguma.sim/v1/depot_vouchers/42/deactivate_status.json and 2024-05-01 12:00"
    assert mask_codes_in_paths(untouched) == untouched


def test_httpx_log_lines_carry_no_full_voucher_code(caplog: pytest.LogCaptureFixture) -> None:
    install_httpx_log_redaction()
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "GET",
                                        httpx.URL(f"http://eguma.sim/v1/vouchers/{PAID}/balance.json?apikey={KEY}"),
                                        "HTTP/1.1", 200, "OK")
    [record] = [r for r in caplog.records if r.name == "httpx"]
    assert PAID not in record.getMessage() and KEY not in record.getMessage()
    assert "/vouchers/…KJR3/balance.json?apikey=***" in record.getMessage()


def test_the_log_file_cleans_every_line_and_traceback(tmp_path: Path) -> None:
    """pos.log: keys and full voucher codes are cleaned from messages and from tracebacks."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert setup_log_file(tmp_path / "logs", clean=clean_log_text) is None
        log = logging.getLogger("pos_app.test_redaction")
        try:
            raise RuntimeError(f"GET http://eguma.test/v1/vouchers/{PAID}/balance.json?apikey={KEY}")
        except RuntimeError:
            log.exception("failed for %s", f"/v1/vouchers/{PAID}/redeem.json")
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            handler.close()
            root.removeHandler(handler)
        root.setLevel(level)
    path = tmp_path / "logs" / "pos.log"
    text = path.read_text(encoding="utf-8")
    assert "failed for /v1/vouchers/…KJR3/redeem.json" in text
    assert "RuntimeError: GET http://eguma.test/v1/vouchers/…KJR3/balance.json?apikey=***" in text
    assert PAID not in text and KEY not in text
    assert (oct(path.stat().st_mode & 0o777), oct(path.parent.stat().st_mode & 0o777)) == ("0o600", "0o700")
