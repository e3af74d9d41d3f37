"""``pos providers connect jtl --pin PIN``: the JTL Admin UI's pin for the till's
client_id and client_secret, stored in the keyring; the real command line against
the simulator in-process (``sim://jtl``) and over real HTTP, and
``connect_with_pin``'s errors one by one."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app import cli
from pos_app.providers import ClientSpec, ProviderTimeout, RefusedError, UnavailableError, registry
from pos_app.providers.jtl import simulator
from pos_app.providers.jtl.connect import PinFormatError, PinMaybeUsed, PinRefused, connect_with_pin
from pos_app.secrets import get_secret
from tests.conftest import MemoryKeyring

CLIENT_ID = "c0ffee00000000000001"  # the demo data's till client
SECRET = "demo-jtl-secret-till-1"
STORED = {("pos-app", "test-outlet/jtl/client_id"): CLIENT_ID,
          ("pos-app", "test-outlet/jtl/client_secret"): SECRET}
NORMAL = "a1b2c3d4e5f600000001"  # a demo voucher, active, with a balance
START = 1_796_000_000.0  # before every demo valid_until but the expired one's


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def jtl(monkeypatch: pytest.MonkeyPatch) -> None:
    """JTL in the registry (as it will be once its package is complete)."""
    monkeypatch.setitem(registry.PACKAGES, "jtl", "pos_app.providers.jtl.descriptor")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, simulator.JtlSimulator]]:
    app, sim = simulator.build_app()
    with simulator.ServerThread(app) as thread:
        yield thread.url, sim


@pytest.fixture
def http_sim(server: tuple[str, simulator.JtlSimulator]) -> simulator.JtlSimulator:
    server[1].reset()
    server[1].clear_faults()
    return server[1]


@pytest.fixture
def http_config(write_config: Callable[..., Path], server: tuple[str, simulator.JtlSimulator]) -> Path:
    return write_config(f'[providers.jtl]\nbase_url = "{server[0]}/v1"\ntimeout_s = 1\nsettle_s = 5\n')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inproc_sim(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> simulator.JtlSimulator:
    """The simulator a ``sim://jtl`` command builds: one for the whole test (so a pin
    used once stays used), on a clock the test turns."""
    app, sim = simulator.build_app(clock=clock)
    monkeypatch.setattr(simulator, "build_app", lambda *args, **kwargs: (app, sim))
    return sim


@pytest.fixture
def sim_config(write_config: Callable[..., Path]) -> Path:
    return write_config('[providers.jtl]\nbase_url = "sim://jtl"\n')


def pos(*argv: str, stdin: str = "") -> int:
    sys.stdin = io.StringIO(stdin)
    try:
        return cli.main(list(argv))
    finally:
        sys.stdin = sys.__stdin__


def connect(config: Path, pin: str, *more: str) -> int:
    return pos("--config", str(config), "providers", "connect", "jtl", "--pin", pin, *more)


def output(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return out, err


# -- the demo's simulator, in-process ----------------------------------------------------
def test_demo_pin_in_process(memory_keyring: MemoryKeyring, sim_config: Path, inproc_sim: simulator.JtlSimulator,
                             capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert connect(sim_config, "123456") == 0
    assert memory_keyring.store == STORED
    out, err = output(capsys)
    assert "Stored jtl client_id …0001 for outlet test-outlet" in out
    assert "Stored jtl client_secret …ll-1 for outlet test-outlet" in out
    assert "Connected: JTL at sim://jtl" in out and "built-in simulator" in out
    assert err == ""
    assert SECRET not in caplog.text and "123456" not in caplog.text

    # A pin is good once.
    assert connect(sim_config, "123456") == 1
    out, err = output(capsys)
    assert out == ""
    assert "The pin is wrong, already used or expired (a pin is valid for 30 minutes): create a new one in " \
           "the JTL Admin UI." in err
    assert "Nothing was stored." in err
    assert memory_keyring.store == STORED


def test_expired_pin(memory_keyring: MemoryKeyring, sim_config: Path, inproc_sim: simulator.JtlSimulator,
                     clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    pin = inproc_sim.issue_pin(CLIENT_ID, "246810")
    clock.now += 30 * 60 + 1
    assert connect(sim_config, pin) == 1
    _, err = output(capsys)
    assert "already used or expired" in err
    assert memory_keyring.store == {}


def test_a_new_pin_replaces_the_credentials(memory_keyring: MemoryKeyring, sim_config: Path,
                                            inproc_sim: simulator.JtlSimulator,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    memory_keyring.store = {("pos-app", "test-outlet/jtl/client_id"): "old-client-00000000",
                            ("pos-app", "test-outlet/jtl/client_secret"): "old-secret-abcd"}
    assert connect(sim_config, inproc_sim.issue_pin(CLIENT_ID), "--outlet", "test-outlet") == 0
    assert memory_keyring.store == STORED
    out, _ = output(capsys)
    assert "Replaced …0000 with jtl client_id …0001" in out
    assert "Replaced …abcd with jtl client_secret …ll-1" in out


# -- over real HTTP -----------------------------------------------------------------------
def test_pin_over_http_then_the_client_uses_the_credentials(
        memory_keyring: MemoryKeyring, http_config: Path, http_sim: simulator.JtlSimulator,
        server: tuple[str, simulator.JtlSimulator], capsys: pytest.CaptureFixture[str]) -> None:
    pin = http_sim.issue_pin(CLIENT_ID)
    assert connect(http_config, pin) == 0
    assert memory_keyring.store == STORED
    out, _ = output(capsys)
    assert f"Connected: JTL at {server[0]}/v1" in out and "Restart the till" in out
    requests = [(r["method"], r["path"]) for r in http_sim.snapshot()["requests"]]
    assert requests == [("POST", "/v1/clients/connect")]

    # pos keys list shows both fields, masked
    assert pos("--config", str(http_config), "keys", "list") == 0
    out, _ = output(capsys)
    assert "client_id      set …0001" in out and "client_secret  set …ll-1" in out

    # the stored pair works: a balance through the JTL client
    pytest.importorskip("pos_app.providers.jtl.client")
    from pos_app.config import load_config

    config = load_config(http_config)
    desc = registry.descriptor("jtl")
    secrets = {field: get_secret("test-outlet", "jtl", field) for field in desc.secret_fields}

    async def balance() -> Any:
        async with httpx.AsyncClient() as http:
            client = desc.make_client(ClientSpec(config.providers["jtl"], secrets, http, "CHF"))
            try:
                return await client.balance(NORMAL)
            finally:
                await client.aclose()

    found = asyncio.run(balance())
    assert found.redeemable and found.balance.minor == http_sim.voucher(NORMAL).remaining > 0


def test_wrong_pin_over_http(memory_keyring: MemoryKeyring, http_config: Path, http_sim: simulator.JtlSimulator,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert connect(http_config, "999999") == 1
    _, err = output(capsys)
    assert "The pin is wrong, already used or expired" in err and "Nothing was stored." in err
    assert memory_keyring.store == {}


def test_no_answer_after_the_pin_was_sent(memory_keyring: MemoryKeyring, http_config: Path,
                                          http_sim: simulator.JtlSimulator,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pin = http_sim.issue_pin(CLIENT_ID)
    http_sim.drop_next_posts(1)  # JTL used the pin, its answer is lost
    assert connect(http_config, pin) == 1
    _, err = output(capsys)
    assert "JTL did not answer after the pin was sent" in err and "the pin may have been used" in err
    assert "if JTL then says the pin is wrong or used, create a new pin" in err
    assert memory_keyring.store == {}
    assert connect(http_config, pin) == 1  # as said: now refused
    assert "already used or expired" in output(capsys)[1]


def test_unreachable(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                     capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_config(f'[providers.jtl]\nbase_url = "http://127.0.0.1:{port}/v1"\ntimeout_s = 1\n')
    assert connect(config, "123456") == 1
    _, err = output(capsys)
    assert "JTL could not be reached; nothing was sent." in err and "The pin was not used" in err
    assert memory_keyring.store == {}


# -- refused before anything is sent -------------------------------------------------------
@pytest.mark.parametrize("pin", ["12ab56", "123", "1234567890123", "１２３４５６"])
def test_a_pin_that_is_not_digits(memory_keyring: MemoryKeyring, http_config: Path,
                                  http_sim: simulator.JtlSimulator, capsys: pytest.CaptureFixture[str],
                                  pin: str) -> None:
    assert connect(http_config, pin) == 2
    _, err = output(capsys)
    assert "a JTL pin has 4 to 12 digits and nothing else" in err and "nothing was sent" in err
    assert pin not in err
    assert http_sim.snapshot()["requests"] == []


def test_without_providers_jtl(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config()
    assert connect(config, "123456") == 2
    _, err = output(capsys)
    assert f"[providers.jtl] is not in {config}: add it" in err
    assert 'base_url = "https://vouchers.api.jtl-software.com/v1"' in err


def test_unknown_provider_and_one_without_pins(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config('[providers.eguma]\nbase_url = "https://example.invalid"\n')
    assert pos("--config", str(config), "providers", "connect", "nope", "--pin", "123456") == 2
    assert "unknown provider 'nope' (known: celbux, csq, eguma, jtl)" in capsys.readouterr().err
    assert pos("--config", str(config), "providers", "connect", "eguma", "--pin", "123456") == 2
    err = capsys.readouterr().err
    assert "E-GUMA has no pin connection: set its keys with pos keys set" in err
    assert f"pos --config {config} keys set --provider eguma --field api_key" in err


def test_no_keyring_means_no_pin_sent(http_config: Path, http_sim: simulator.JtlSimulator,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import keyring
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        assert connect(http_config, http_sim.issue_pin(CLIENT_ID)) == 2
    finally:
        keyring.set_keyring(previous)
    assert http_sim.snapshot()["requests"] == []  # the pin is still good
    assert "pos providers:" in capsys.readouterr().err


# -- pos keys with JTL's two fields ----------------------------------------------------------
def test_keys_set_and_delete_by_hand(memory_keyring: MemoryKeyring, http_config: Path,
                                     http_sim: simulator.JtlSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    for field, value in (("client_id", CLIENT_ID), ("client_secret", SECRET)):
        assert pos("--config", str(http_config), "keys", "set", "--provider", "jtl", "--field", field,
                   stdin=value + "\n") == 0
    assert memory_keyring.store == STORED
    out, _ = output(capsys)
    assert "Stored jtl client_secret …ll-1" in out
    assert pos("--config", str(http_config), "keys", "set", "--provider", "jtl", stdin=SECRET) == 2
    assert "jtl has several secrets; choose one with --field (client_id, client_secret)" in output(capsys)[1]
    assert pos("--config", str(http_config), "keys", "delete", "--provider", "jtl", "--field",
               "client_secret") == 0
    assert memory_keyring.store == {("pos-app", "test-outlet/jtl/client_id"): CLIENT_ID}
    assert pos("--config", str(http_config), "keys", "list") == 0
    out, _ = output(capsys)
    assert "client_id      set …0001" in out and "client_secret  not set" in out


def keys_set(config: Path, field: str, value: str, *more: str) -> int:
    return pos("--config", str(config), "keys", "set", "--provider", "jtl", "--field", field, *more,
               stdin=value)


def test_keys_set_checks_the_pair_once_both_are_there(memory_keyring: MemoryKeyring, http_config: Path,
                                                      http_sim: simulator.JtlSimulator,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pos_app.providers.jtl.client")
    assert keys_set(http_config, "client_id", CLIENT_ID) == 0
    out, _ = output(capsys)
    assert "Not checked: JTL credentials are checked together, once client_secret is stored too." in out
    assert http_sim.snapshot()["requests"] == []

    assert keys_set(http_config, "client_secret", "not-the-secret-0000") == 1  # a wrong pair: not stored
    _, err = output(capsys)
    assert "rejected this client_secret together with the stored client_id …0001 (HTTP 401)" in err
    assert "The client_secret was NOT stored. Replacing all of them? Run again with --no-check, then set " \
           f"client_id; or connect with a new pin: pos --config {http_config} providers connect jtl --pin PIN." in err
    assert "not-the-secret-0000" not in err
    assert ("pos-app", "test-outlet/jtl/client_secret") not in memory_keyring.store

    assert keys_set(http_config, "client_secret", SECRET) == 0
    out, _ = output(capsys)
    assert "Stored jtl client_secret …ll-1" in out
    assert "Checked: JTL at http://127.0.0.1:" in out and "accepted the credentials (client_id, client_secret)." in out
    assert memory_keyring.store == STORED

    # replacing both by hand: the first one goes in with --no-check, said so
    assert keys_set(http_config, "client_id", "c0ffee00000000000002", "--no-check") == 0
    out, err = output(capsys)
    assert "Replaced …0001 with jtl client_id …0002" in out
    assert "Warning: JTL at" in err and "Stored anyway (--no-check)." in err


# -- connect_with_pin on its own ---------------------------------------------------------------
def exchange(handler: Callable[[httpx.Request], httpx.Response], pin: str = "123456") -> dict[str, str]:
    async def go() -> dict[str, str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await connect_with_pin(http, "https://jtl.example/v1/", pin, timeout_s=1)

    return asyncio.run(go())


def test_connect_with_pin_sends_the_digits() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "c1", "secret": SECRET, "name": "Till 1"})

    assert exchange(handler, " 123 456 ") == {"client_id": "c1", "client_secret": SECRET}
    assert str(seen[0].url) == "https://jtl.example/v1/clients/connect"
    assert seen[0].content == b'{"pin":"123456"}' and "authorization" not in seen[0].headers
    with pytest.raises(PinFormatError):
        exchange(handler, "12 34x")
    assert len(seen) == 1


@pytest.mark.parametrize(("answer", "error", "words"), [
    (httpx.Response(422, json={"status": 422, "code": "CLIENT.CONNECT.UNPROCESSABLE_ENTITY",
                               "errors": [{"code": "CLIENT.CONNECT.PIN.VALID_PIN", "message": "The pin is invalid."}]}),
     PinRefused, "already used or expired"),
    (httpx.Response(404, text="Not Found"), RefusedError, "check [providers.jtl] base_url"),
    (httpx.Response(503), UnavailableError, "not available right now"),
    (httpx.Response(500), PinMaybeUsed, "the pin may have been used"),
    (httpx.Response(200, json={"id": "c1"}), PinMaybeUsed, "no usable client id and secret"),
    (httpx.Response(200, json={"id": "c1", "secret": ""}), PinMaybeUsed, "no usable client id and secret"),
    (httpx.Response(200, text="<html>"), PinMaybeUsed, "no usable client id and secret"),
    (httpx.ReadTimeout("read"), PinMaybeUsed, "the pin may have been used"),
    (httpx.ConnectTimeout("connect"), ProviderTimeout, "nothing was sent"),
    (httpx.ConnectError("refused"), UnavailableError, "nothing was sent"),
])
def test_connect_with_pin_errors(answer: httpx.Response | Exception, error: type[Exception], words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(error) as caught:
        exchange(handler)
    assert words in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    if error is PinRefused:
        assert caught.value.provider_message == "The pin is invalid."  # type: ignore[attr-defined]
    if error in (ProviderTimeout, UnavailableError):
        assert "The pin was not used" in caught.value.hint  # type: ignore[attr-defined]
