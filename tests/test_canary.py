"""Canary secrets: recognisable keys go into the keyring, every E-GUMA path of the
till runs (good, wrong key, 401, 400 echoing the key, 500, timeouts, dropped
answers, crashes), then every place a secret must never reach is searched:
log records (all loggers at DEBUG, httpx included), the journal files, the
printer's output, stdout/stderr, what the cashier is shown and the text of
every exception raised. The search is checked to have covered real data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from pos_app.providers import UnavailableError
import pytest

from pos_app import keys_cli, secrets
from pos_app.config import Config, load_config
from pos_app.providers import ProviderError
from pos_app.providers.eguma import simulator
from pos_app.providers.eguma.client import EgumaClient
from pos_app.services.checkout import CheckoutError, Outcome, Till
from pos_app.services.providers import slot_for, close_providers
from pos_app.services.setup import open_till
from tests.fakepay.descriptor import DESCRIPTOR as FAKEPAY
from tests.fakepay.fixtures import fakepay  # noqa: F401  (a second provider, with two secret fields)
from tests.conftest import CROISSANT, ESPRESSO, MERLOT, MemoryKeyring
from tests.fakes_hw import start_pos_in_terminal, wait_for
from tests.keyring_backend import FILE_ENV

OUTLET = "test-outlet"
CANARIES = {
    (provider, field): f"CANARY-{provider}-{field.replace('_', '')}-7f3a9c"
    for provider, fields in [*secrets.FIELDS.items(), (FAKEPAY.name, FAKEPAY.secret_fields)] for field in fields
}
EGUMA_KEY = CANARIES["eguma", "api_key"]
WRONG_KEY = "CANARY-wrong-eguma-5d2e81"
# The key's first 14 of 26 characters: what a provider's own cut at 300 characters leaves of a key
# echoed after character 286. No part of a key may show either.
EGUMA_KEY_CUT = EGUMA_KEY[:14]
ALL_CANARIES = [*CANARIES.values(), WRONG_KEY, EGUMA_KEY_CUT]
HALF_SPENT = "L4FU5LQTKJR3"  # 50.00 of 100.00 left (demo data)
ALMOST_EMPTY = "2QH3QTDM28N6"  # 2.00 left
LOGGERS = ("", "httpx", "httpcore", "pos_app", "uvicorn", "uvicorn.error", "asyncio", "keyring")


def search(places: dict[str, bytes | str]) -> list[str]:
    """Where a canary occurs; each hit names the place and the canary's owner, not the canary."""
    hits = []
    for where, content in places.items():
        data = content.encode("utf-8", "replace") if isinstance(content, str) else content
        for canary in ALL_CANARIES:
            if canary.encode() in data:
                hits.append(f"{where}: {canary.rsplit('-', 1)[0]}-…")
    return hits


def exception_text(exc: BaseException) -> str:
    """Message, repr, args and the formatted traceback, chained exceptions included."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def journal_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


@pytest.fixture
def canaries(memory_keyring: MemoryKeyring, fakepay: object) -> MemoryKeyring:  # noqa: F811
    for (provider, field), canary in CANARIES.items():
        secrets.set_secret(OUTLET, provider, field, canary)
    return memory_keyring


@pytest.fixture
def canary_server() -> Iterator[tuple[str, simulator.EgumaSimulator]]:
    """The E-GUMA simulator over real HTTP; the outlet's key is the canary."""
    data = simulator.load_data()
    data.outlets = {EGUMA_KEY: "Test Shop Zürich"}
    app, sim = simulator.build_app(data=data)
    server = simulator.ServerThread(app).start()
    yield server.url, sim
    sim.clear_faults()
    server.stop()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    return caplog


class Recorder:
    """Runs till calls, keeping every exception and every text the cashier would see."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.screen: list[str] = []

    async def __call__(self, call: Any) -> Any:
        try:
            result = await call if asyncio.iscoroutine(call) else call
        except (CheckoutError, ProviderError, secrets.SecretsError, RuntimeError, httpx.HTTPError) as exc:
            self.errors.append(exc)
            self.screen.append(str(exc))
            return None
        if isinstance(result, Outcome):
            self.screen.append(result.notice.text)
        elif result is not None:
            self.screen.append(repr(result))
        return result


class CrashingTransport(httpx.AsyncBaseTransport):
    """A transport that fails with a bug, not a network error."""

    def __init__(self, message: Callable[[httpx.Request], str]) -> None:
        self.message = message

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError(self.message(request))


def config_for(write_config: Callable[..., Path], url: str, name: str, journal: str | None = None) -> Config:
    body = f'[providers.eguma]\nbase_url = "{url}"\ntimeout_s = 1.0\nsettle_s = 1.5\n'
    if journal:
        body += f'\n[journal]\npath = "{journal}"\n'
    return load_config(write_config(body, name=name))


async def test_no_canary_leaks_from_the_till(
    canaries: MemoryKeyring, canary_server: tuple[str, simulator.EgumaSimulator],
    write_config: Callable[..., Path], till_factory: Callable[..., Till], tmp_path: Path,
    debug_logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    url, sim = canary_server
    do = Recorder()
    till = till_factory(config_for(write_config, url, "outlet.toml"))
    slot = till.providers["eguma"]
    assert slot.client is not None, slot.problem

    # a sale paid by voucher, its receipt printed; a balance slip
    till.scan(MERLOT)
    check = await do(till.vouchers.check("l4fu-5lqt-kjr3"))
    paid = await do(till.vouchers.pay(check))
    assert paid.closed is not None
    assert (await do(till.print_receipt(paid.closed.receipt_id))).ok
    slip = await do(till.vouchers.check(ALMOST_EMPTY, for_payment=False))
    await do(till.print_receipt(till.store_balance_slip(slip)))

    # provider texts that echo the key: a 200 answer's message (shown, printed on a balance
    # slip, journaled with it), a 400 cut by the provider in the key, a JSON-escaped echo
    blocked = {"code": HALF_SPENT, "is_redeemable": False, "balance_in_cents": 0, "currency": "CHF",
               "total_amount_in_cents": 10000, "message": f"Gesperrt für {EGUMA_KEY}"}
    sim.fail_next(1, 200, json.dumps(blocked), "application/json")
    echoed = await do(till.vouchers.check(HALF_SPENT, for_payment=False))
    await do(till.print_receipt(till.store_balance_slip(echoed)))
    sim.fail_next(1, 200, json.dumps(blocked), "application/json")
    await do(till.vouchers.check(HALF_SPENT))
    sim.fail_next(1, 400, ("Ungültige Anfrage " + "x" * 268 + EGUMA_KEY)[:300])
    await do(till.vouchers.check(HALF_SPENT))
    sim.fail_next(1, 400, json.dumps({"error": "bad key", "key": EGUMA_KEY}), "application/json")
    await do(till.vouchers.check(HALF_SPENT))

    # a partial payment, voided (cancel_redemption)
    till.scan(ESPRESSO)
    await do(till.vouchers.pay(await do(till.vouchers.check(ALMOST_EMPTY))))
    await do(till.void_tender(till.order.active_tenders[0].id))

    # a dropped answer to a redemption: resolved by Balance (kept, without a token); cash for the rest
    check = await do(till.vouchers.check(HALF_SPENT))
    sim.drop_next_posts(1)
    assert "did happen" in (await do(till.vouchers.pay(check))).notice.text
    await do(till.cancel_order())  # refused: no token to cancel the lost redemption with
    assert (await do(till.pay_cash(till.parse_amount("20.00")))).closed is not None
    sim.reset()  # the vouchers' demo balances again

    # HTTP errors: 500 on Balance and on Redeem, 401, a 400 and a 500 whose text echoes the key
    till.scan(CROISSANT)
    sim.fail_next(1, 500, f"Internal Server Error for apikey={EGUMA_KEY}")
    await do(till.vouchers.check(HALF_SPENT))
    check = await do(till.vouchers.check(HALF_SPENT))
    sim.fail_next(1, 500)
    assert "not decided yet" in (await do(till.vouchers.pay(check))).notice.text
    await asyncio.sleep(2.6)  # the settle window (timeout_s + settle_s) passes
    assert "did not happen" in (await do(till.recovery.run()))[0].text
    sim.fail_next(1, 401, "Unauthorized")
    await do(till.vouchers.check(HALF_SPENT))
    sim.fail_next(1, 400, f"Der API-Schlüssel {EGUMA_KEY} ist ungültig")
    await do(till.vouchers.check(HALF_SPENT))

    # timeouts: on Balance, then on a Redeem the provider applied (unknown; F8 resolves it later)
    check = await do(till.vouchers.check(HALF_SPENT))
    sim.set_latency(2.0)  # twice the 1 s timeout: room for a busy machine on the normal calls
    await do(till.vouchers.check(HALF_SPENT))
    await do(till.vouchers.pay(check))
    sim.set_latency(0)
    await asyncio.sleep(2.0)  # the slow answers are done
    unknown = [t for t in till.order.active_tenders if t.unresolved]
    assert unknown, "the timed-out redemption should be unresolved"
    await do(till.void_tender(unknown[0].id))  # F8: resolved by Balance
    assert till.order.is_empty  # it did happen, which paid the order; it closed

    # gift vouchers: activation at close failing (500 echoing the key) then retried, a voided
    # sale (Deactivate status + Deactivate), an activation whose answer was lost (resolved
    # by Activate status), and a 401 on Activate status
    await do(till.gifts.add(await do(till.gifts.check("EADS-HD24-AKS5"))))
    sim.fail_next(1, 500, f"Internal Server Error for apikey={EGUMA_KEY}")
    assert "Paid, but not closed" in (await do(till.pay_cash(till.parse_amount("50")))).notice.text
    assert (await do(till.finish())).closed is not None
    assert "voided" in (await do(till.storno.run())).notice.text
    await do(till.gifts.add(await do(till.gifts.check("FREE-AMNT-0001")), "20"))
    sim.drop_next_posts(1)
    assert (await do(till.pay_card(till.parse_amount("20")))).closed is not None
    sim.fail_next(1, 401, "Unauthorized")
    await do(till.gifts.check("DEPO-SOLD-0100"))
    assert [a.code for a in sim.state.activations] == ["EADSHD24AKS5", "FREEAMNT0001"]
    assert [d.code for d in sim.state.deactivations] == ["EADSHD24AKS5"]

    # a till whose outlet key is wrong: real 401s, and a failed redemption in its journal
    canaries.set_password("pos-app", f"{OUTLET}/eguma/api_key", WRONG_KEY)
    wrong = till_factory(config_for(write_config, url, "wrong.toml", journal="wrong.sqlite"))
    canaries.set_password("pos-app", f"{OUTLET}/eguma/api_key", EGUMA_KEY)
    await do(wrong.vouchers.check(HALF_SPENT))
    await do(wrong.gifts.check("EADS-HD24-AKS5"))
    wrong.scan(CROISSANT)
    await do(wrong.vouchers.pay(await do(till.vouchers.check(HALF_SPENT))))

    # crashes: transports that raise a bug instead of a network error
    crash_config = config_for(write_config, url, "crash.toml", journal="crash.sqlite")
    crash_http = httpx.AsyncClient(transport=CrashingTransport(lambda request: "transport crashed"))
    crash_client = EgumaClient(crash_http, EGUMA_KEY, url, "CHF", 0.3)
    crashed = open_till(crash_config, providers={"eguma": slot_for(
        crash_config, "eguma", crash_client, http=crash_http)})
    crashed.scan(CROISSANT)
    await do(crashed.vouchers.check(HALF_SPENT))
    await do(crashed.vouchers.pay(check))
    read_error = httpx.AsyncClient(transport=httpx.MockTransport(_raise_read_error))
    await do(EgumaClient(read_error, EGUMA_KEY, url, "CHF", 0.3, owns_http=True).balance(HALF_SPENT))

    # what the cashier sees besides notices: provider state
    for t in (till, wrong, crashed):
        for s in t.providers.values():
            do.screen += [repr(s), str(s.problem), str(s.last_error)]

    for t in (till, wrong, crashed):
        await close_providers(t.providers)
    journals = {f"journal {t.journal.path.name}": journal_bytes(t.journal.path) for t in (till, wrong, crashed)}
    crashed.journal.close()
    for t in (till, wrong):
        t.journal.close()
    journals.update({f"closed journal {t.journal.path.name}": journal_bytes(t.journal.path)
                     for t in (till, wrong, crashed)})
    out, err = capfd.readouterr()
    records = debug_logs.records

    places: dict[str, bytes | str] = {
        "log records": "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}" for r in records),
        "log exc_info": "\n".join(exception_text(r.exc_info[1]) for r in records if r.exc_info and r.exc_info[1]),
        **journals,
        "printer output": till.printer.output,  # type: ignore[attr-defined]
        "stdout": out,
        "stderr": err,
        "screen": "\n".join(do.screen),
        **{f"exception {i} {type(e).__name__}": exception_text(e) for i, e in enumerate(do.errors)},
    }
    assert search(places) == []

    # ... and the search looked at real data
    main_journal = journals[f"journal {till.journal.path.name}"] + journals[f"closed journal {till.journal.path.name}"]
    assert HALF_SPENT.encode() in main_journal and b"CHF" in main_journal
    assert b"rejected the API key" in journals["journal wrong.sqlite"] + journals["closed journal wrong.sqlite"]
    assert b"KJR3" in till.printer.output and b"38.00" in till.printer.output  # type: ignore[attr-defined]
    messages = [r.getMessage() for r in records]
    assert any(r.name == "httpx" and "HTTP Request: GET" in r.getMessage() and "apikey=" in r.getMessage()
               for r in records), "httpx request logging was not captured"
    assert any(r.name.startswith("httpcore") for r in records), "httpcore debug logging was not captured"
    assert any("E-GUMA" in m for m in messages)
    kinds = {type(e).__name__ for e in do.errors}
    assert {"CheckoutError", "UnavailableError"} <= kinds, kinds
    shown = "\n".join(do.screen)
    assert "Gesperrt für ***" in shown and "Gesperrt f\x81r ***".encode("latin-1") in till.printer.output  # type: ignore[attr-defined]
    assert "Ungültige Anfrage xxx" in shown and '"key": "***"' in shown
    for expected in ("rejected the API key", "HTTP 500", "did not answer in time",
                     "failed unexpectedly (RuntimeError)",
                     "ist ungültig", "did happen"):
        assert expected in shown, expected
    assert not any(isinstance(e, RuntimeError) for e in do.errors)  # the crash became typed errors


def _raise_read_error(request: httpx.Request) -> httpx.Response:
    """A network error whose message holds the request (its URL carries the key)."""
    raise httpx.ReadError(f"read failed for {request!r}", request=request)


async def test_a_crash_that_names_the_request_does_not_leak_the_key(
    canary_server: tuple[str, simulator.EgumaSimulator],
) -> None:
    url, _ = canary_server
    http = httpx.AsyncClient(transport=CrashingTransport(lambda request: f"transport crashed on {request!r}"))
    client = EgumaClient(http, EGUMA_KEY, url, "CHF", 0.3, owns_http=True)
    caught: list[BaseException] = []
    try:
        await client.balance(HALF_SPENT)
    except UnavailableError as exc:  # a typed error naming only the exception's type
        caught.append(exc)
    finally:
        await client.aclose()
    assert caught and "RuntimeError" in str(caught[0])
    assert search({"exception": exception_text(caught[0])}) == []


def test_no_canary_leaks_from_the_keys_command(
    canaries: MemoryKeyring, canary_server: tuple[str, simulator.EgumaSimulator],
    write_config: Callable[..., Path], debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _ = canary_server
    config = str(write_config(f'[providers.eguma]\nbase_url = "{url}"\ntimeout_s = 2\n'))
    codes = [keys_cli.main(["list", "--config", config])]
    for key in (WRONG_KEY, EGUMA_KEY):
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO(key + "\n"))
        codes.append(keys_cli.main(["set", "--provider", "eguma", "--config", config]))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(CANARIES["fakepay", "client_secret"]))
    codes.append(keys_cli.main(["set", "--provider", "fakepay", "--field", "client_secret", "--config", config]))
    codes.append(keys_cli.main(["list", "--config", config]))
    errors: list[BaseException] = []
    for call in (lambda: secrets.set_secret(OUTLET, "eguma", "api_key", EGUMA_KEY + "\n"),
                 lambda: secrets.set_secret("bad/outlet", "eguma", "api_key", EGUMA_KEY)):
        try:
            call()
        except ValueError as exc:
            errors.append(exc)
    out, err = capfd.readouterr()

    assert codes == [0, 1, 0, 0, 0]
    assert len(errors) == 2
    places: dict[str, bytes | str] = {
        "stdout": out, "stderr": err,
        "log records": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in debug_logs.records),
        **{f"exception {i}": exception_text(e) for i, e in enumerate(errors)},
    }
    assert search(places) == []
    assert "rejected this API key" in err
    assert out.count("set …3a9c") == 2 * len(CANARIES)  # every field listed (twice) with its last four only
    assert any(r.name == "httpx" for r in debug_logs.records)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_no_canary_leaks_from_the_real_app_and_its_log_file(
    canary_server: tuple[str, simulator.EgumaSimulator], write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The real `pos` in a terminal, its key from a keyring file: a voucher payment,
    a 401 and a 500 (echoing the key); then pos.log, the journal and everything the
    terminal showed are searched."""
    url, sim = canary_server
    config_path = write_config(f'[providers.eguma]\nbase_url = "{url}"\ntimeout_s = 2\n')
    config = load_config(config_path)
    keyring_file = tmp_path / "keyring.json"
    keyring_file.write_text(json.dumps({f"pos-app {OUTLET}/eguma/api_key": EGUMA_KEY}), encoding="utf-8")
    terminal = start_pos_in_terminal(config_path, **{
        "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.JsonFileKeyring", FILE_ENV: str(keyring_file)})
    app, master, screen = terminal.app, terminal.master, terminal.screen
    f2, f6, escape = "\x1bOQ", "\x1b[17~", "\x1b"

    def requests() -> int:
        return len(sim.state.requests)

    try:
        _wait_for(lambda: config.journal_path().exists() and b"Ready" in screen)
        os.write(master, f"{MERLOT}\r".encode())
        _wait_for(lambda: b"Merlot" in screen)
        os.write(master, f"{f2}L4FU-5LQT-KJR3\r".encode())  # Balance
        _wait_for(lambda: requests() == 1 and b"Pay CHF 38.00" in screen)
        os.write(master, b"\r")  # Redeem: the order closes
        _wait_for(lambda: requests() == 2 and b"closed" in screen)
        sim.fail_next(1, 401, "Unauthorized")
        os.write(master, f"{f6}2QH3QTDM28N6\r".encode())
        _wait_for(lambda: requests() == 3 and b"rejected" in screen)
        sim.fail_next(1, 500, f"Internal Server Error for apikey={EGUMA_KEY}")
        os.write(master, b"\r")  # check again
        _wait_for(lambda: requests() == 4 and b"HTTP 500" in screen)
        os.write(master, escape.encode())
        time.sleep(0.5)
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=30)
        os.close(master)

    log = (config.data_dir() / "pos.log").read_text(encoding="utf-8")
    places: dict[str, bytes | str] = {
        "pos.log": log, "terminal": bytes(screen), "journal": journal_bytes(config.journal_path()),
    }
    assert search(places) == []
    # ... and there was something to search
    assert "HTTP Request: POST" in log and "redeem.json" in log and "apikey=" in log
    assert b"KJR3" in places["journal"]  # type: ignore[operator]
    assert [r.amount_in_cents for r in sim.state.redemptions.values()] == [3800]


def _wait_for(predicate: Callable[[], bool]) -> None:
    assert wait_for(predicate, 60.0), "timed out waiting for the app"



