"""Contract tests: EgumaClient against the E-GUMA simulator.

Every test in the ``env`` fixture runs twice: in-process (httpx ASGI
transport, the demo mode) and over real HTTP (uvicorn on 127.0.0.1). The
assertions check values and the simulator's ledger, not just "no crash".
"""

from __future__ import annotations

import functools
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.money import Money
from pos_app.providers import base
from pos_app.providers.base import (
    AuthenticationError,
    BadResponse,
    Capability,
    NotFoundError,
    ProviderError,
    ProviderTimeout,
    RefusedError,
    UnavailableError,
    UnknownOutcome,
    UnsupportedOperation,
    VoucherProvider,
)
from pos_app.providers.base import OpContext, TenderRef
from pos_app.providers.eguma.client import REDEEM_TOKEN, EgumaClient
from pos_app.providers.eguma.descriptor import DESCRIPTOR, EgumaSettings
from pos_app.providers.eguma.settling import redeem_applied
from pos_app.providers.eguma.simulator import (
    EgumaSimulator,
    ServerThread,
    build_app,
    in_process_transport,
)
from tests.fakes_hw import wait_for

KEY = "demo-outlet-key"
TIMEOUT_S = 0.5
PAID = "L4FU5LQTKJR3"  # 50.00 of 100.00
ALMOST_EMPTY = "2QH3QTDM28N6"  # 2.00 of 50.00
DEPOT_FIXED = "EADSHD24AKS5"  # depot, 50.00, not yet sold
DEPOT_FREE = "FREEAMNT0001"  # depot, free amount, not yet sold
DEPOT_SOLD = "DEPOSOLD0100"  # depot, sold, unused (100.00)
DEPOT_SPENT = "DEPOUSED0050"  # depot, sold, 30.00 of 50.00 left


def chf(cents: int) -> Money:
    return Money(cents, "CHF")


def ctx(reference: str = "test-1-000001") -> OpContext:
    """The context every call that moves money carries (our reference is sent as reference_number)."""
    return OpContext(reference, None, datetime.now())


def paid(auth: Any) -> TenderRef:
    """The tender a redemption became, as a void sees it."""
    return TenderRef(auth.code, auth.amount, auth.refs)


SETTINGS = EgumaSettings(base_url="https://api.e-guma.ch")


def owns(text: str) -> bool:
    return DESCRIPTOR.owns(SETTINGS, text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    kind: str
    sim: EgumaSimulator
    clock: FakeClock
    http: httpx.AsyncClient
    base_url: str

    def client(self, api_key: str = KEY, timeout_s: float = TIMEOUT_S) -> EgumaClient:
        return EgumaClient(self.http, api_key, self.base_url, "CHF", timeout_s)


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[ServerThread, EgumaSimulator, FakeClock]]:
    clock = FakeClock()
    app, sim = build_app(clock=clock)
    with ServerThread(app) as server:
        yield server, sim, clock


@pytest.fixture(params=["in_process", "uvicorn"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    if request.param == "in_process":
        clock = FakeClock()
        app, sim = build_app(clock=clock)
        transport: httpx.AsyncBaseTransport | None = in_process_transport(app)
        base_url = "http://eguma.sim"
    else:
        server, sim, clock = request.getfixturevalue("http_server")
        clock.now = 1000.0
        sim.reset()
        transport, base_url = None, server.url
    async with httpx.AsyncClient(transport=transport) as http:
        yield Env(request.param, sim, clock, http, base_url)


@pytest.fixture
def eguma(env: Env) -> EgumaClient:
    return env.client()


@functools.cache
def offline_client() -> EgumaClient:
    """A client for the pure methods (codes); it never sends anything."""
    never = httpx.MockTransport(lambda request: httpx.Response(599))
    return EgumaClient(httpx.AsyncClient(transport=never), KEY, "http://x", "CHF", 1.0)


def assert_no_secret(exc: BaseException, secret: str) -> None:
    text = "".join(traceback.format_exception(exc))
    assert secret not in str(exc)
    assert secret not in repr(exc)
    assert secret not in text
    assert exc.__cause__ is None and exc.__context__ is None


# -- the port -------------------------------------------------------------------
def test_client_implements_the_port() -> None:
    client = offline_client()
    assert isinstance(client, VoucherProvider)
    assert client.supports(Capability.AUTHORIZE) and not client.supports(Capability.REFUND)
    assert KEY not in repr(client)


async def test_base_provider_raises_unsupported() -> None:
    with pytest.raises(UnsupportedOperation) as info:
        await base.ProviderBase().authorize("X", chf(100), ctx())
    assert info.value.capability is Capability.AUTHORIZE
    assert isinstance(info.value, ProviderError)


def test_redact_masks_keys_and_literals() -> None:
    url = "https://api.e-guma.ch/v1/vouchers/X/balance.json?apikey=s3cr3t&x=1"
    assert base.redact(url) == "https://api.e-guma.ch/v1/vouchers/X/balance.json?apikey=***&x=1"
    assert base.redact("echo s3cr3t here", "s3cr3t") == "echo *** here"
    assert base.redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"


@given(
    code=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=12, max_size=12),
    lower=st.booleans(),
    dashed=st.booleans(),
    wrap=st.sampled_from(["", " ", "\r\n", "\t", "\n"]),
)
def test_normalize_and_recognise_codes(code: str, lower: bool, dashed: bool, wrap: str) -> None:
    client = offline_client()
    typed = f"{code[:4]}-{code[4:8]}-{code[8:]}" if dashed else code
    typed = wrap + (typed.lower() if lower else typed) + wrap
    assert client.normalize_code(typed) == code
    assert owns(typed)


def test_looks_like_code_rejects_other_input() -> None:
    assert owns("42")
    assert not owns("7610000000001")  # an EAN-13 article barcode
    assert not owns("L4FU-5LQT-KJR")
    assert not owns("123")


def test_redeem_applied_decides_from_balances() -> None:
    assert redeem_applied(chf(5000), chf(4000), chf(1000)) is True
    assert redeem_applied(chf(5000), chf(5000), chf(1000)) is False
    assert redeem_applied(chf(5000), chf(3000), chf(1000)) is None


# -- balance ------------------------------------------------------------------------
async def test_balance_ok(eguma: EgumaClient) -> None:
    result = await eguma.balance(PAID)
    assert result.code == PAID
    assert result.redeemable and result.message == ""
    assert result.balance == chf(5000) and result.total == chf(10000)
    assert result.product_id == "gift-100" and result.currency == "CHF"


async def test_balance_accepts_dashed_lowercase_scanned_code(eguma: EgumaClient, env: Env) -> None:
    result = await eguma.balance(" l4fu-5lqt-kjr3\r\n")
    assert result.code == PAID and result.balance == chf(5000)
    assert env.sim.state.requests[-1].path == f"/v1/vouchers/{PAID}/balance.json"


@pytest.mark.parametrize(
    ("code", "message", "balance"),
    [
        ("USED-UP00-0001", "Der Gutschein wurde bereits vollständig eingelöst.", 0),
        ("EXPD-2023-0001", "Der Gutschein ist abgelaufen.", 3000),
        ("NOPE-NOPE-NOPE", "Der Gutschein ist nicht vorhanden.", 0),
        ("EADS-HD24-AKS5", "Der Gutschein wurde noch nicht aktiviert.", 0),
    ],
)
async def test_balance_not_redeemable_shows_provider_message(
    eguma: EgumaClient, code: str, message: str, balance: int
) -> None:
    result = await eguma.balance(code)
    assert not result.redeemable
    assert result.message == message
    assert result.balance == chf(balance)


async def test_short_code_resolves_to_real_code_on_balance_only(eguma: EgumaClient) -> None:
    result = await eguma.balance("42")
    assert result.code == PAID and result.redeemable and result.balance == chf(5000)
    with pytest.raises(NotFoundError) as info:
        await eguma.authorize("42", chf(100), ctx("order-1"))
    assert info.value.provider_message == "Der Gutschein ist nicht vorhanden."


async def test_short_code_expires_after_five_minutes(eguma: EgumaClient, env: Env) -> None:
    env.clock.now += 299
    assert (await eguma.balance("42")).redeemable
    env.clock.now += 2
    result = await eguma.balance("42")
    assert not result.redeemable
    assert result.message == "Der Kurzcode ist abgelaufen."


# -- redeem and cancel ---------------------------------------------------------------
async def test_redeem_partial_updates_ledger(eguma: EgumaClient, env: Env) -> None:
    auth = await eguma.authorize("L4FU-5LQT-KJR3", chf(1990), ctx("order-1-0042"))
    assert auth.code == PAID and auth.amount == chf(1990)
    assert auth.new_balance == chf(3010) and auth.refs[REDEEM_TOKEN]
    assert env.sim.voucher(PAID).balance_in_cents == 3010
    row = env.sim.state.redemptions[auth.refs[REDEEM_TOKEN]]
    assert (row.code, row.amount_in_cents, row.reference, row.outlet) == (
        PAID,
        1990,
        "order-1-0042",
        "Demo Shop Zürich",
    )
    assert (await eguma.capture(paid(auth), ctx())).refs == {}
    assert (await eguma.balance(PAID)).balance == chf(3010)


async def test_redeem_more_than_balance_is_refused_verbatim(eguma: EgumaClient, env: Env) -> None:
    with pytest.raises(RefusedError) as info:
        await eguma.authorize(ALMOST_EMPTY, chf(201), ctx())
    assert info.value.provider_message == "Der Betrag übersteigt das Guthaben des Gutscheins."
    # The till's own explanation (from the status and the operation), the provider's words kept apart.
    assert info.value.message == "E-GUMA refused the payment."
    assert not isinstance(info.value, NotFoundError)
    assert env.sim.voucher(ALMOST_EMPTY).balance_in_cents == 200
    assert env.sim.state.redemptions == {}


async def test_redeem_used_up_voucher_is_refused(eguma: EgumaClient) -> None:
    with pytest.raises(RefusedError) as info:
        await eguma.authorize("USED-UP00-0001", chf(100), ctx())
    assert info.value.provider_message == "Der Gutschein wurde bereits vollständig eingelöst."


async def test_cancel_partial_then_rest_then_over_cancel(eguma: EgumaClient, env: Env) -> None:
    auth = await eguma.authorize(PAID, chf(3000), ctx("order-7"))
    assert env.sim.voucher(PAID).balance_in_cents == 2000

    first = await eguma.void(paid(auth), chf(1000), ctx())
    assert first.amount == chf(1000) and first.new_balance == chf(3000)
    assert env.sim.state.redemptions[auth.refs[REDEEM_TOKEN]].cancelled_in_cents == 1000

    rest = await eguma.void(paid(auth), chf(2000), ctx())
    assert rest.new_balance == chf(5000) and rest.code == PAID
    assert env.sim.state.redemptions[auth.refs[REDEEM_TOKEN]].open_in_cents == 0

    with pytest.raises(RefusedError) as info:
        await eguma.void(paid(auth), chf(1), ctx())
    assert info.value.provider_message == "Die Einlösung wurde bereits vollständig storniert."
    assert env.sim.voucher(PAID).balance_in_cents == 5000


async def test_cancel_more_than_left_is_refused(eguma: EgumaClient, env: Env) -> None:
    auth = await eguma.authorize(PAID, chf(1000), ctx())
    await eguma.void(paid(auth), chf(600), ctx())
    with pytest.raises(RefusedError) as info:
        await eguma.void(paid(auth), chf(500), ctx())
    assert info.value.provider_message == "Der Betrag übersteigt den eingelösten Betrag."
    assert env.sim.voucher(PAID).balance_in_cents == 4600


async def test_void_defaults_to_the_whole_authorization(eguma: EgumaClient, env: Env) -> None:
    auth = await eguma.authorize(ALMOST_EMPTY, chf(200), ctx())
    assert auth.new_balance == chf(0)
    result = await eguma.void(paid(auth), auth.amount, ctx())
    assert result.amount == chf(200) and result.new_balance == chf(200)


# -- depot vouchers -----------------------------------------------------------------------
async def test_activate_fixed_amount_once(eguma: EgumaClient, env: Env) -> None:
    status = await eguma.check_value("EADS-HD24-AKS5")
    assert status.can_create and not status.free_amount and status.amount == chf(5000)

    done = await eguma.create_value("EADS-HD24-AKS5", None, ctx())
    assert done.code == DEPOT_FIXED and done.amount == chf(5000)
    assert [(a.code, a.amount_in_cents) for a in env.sim.state.activations] == [(DEPOT_FIXED, 5000)]
    assert (await eguma.balance(DEPOT_FIXED)).balance == chf(5000)

    again = await eguma.check_value(DEPOT_FIXED)
    assert not again.can_create and again.amount == chf(0)
    assert again.message == "Der Gutschein wurde bereits aktiviert."
    assert again.code == DEPOT_FIXED  # refused answers carry no code: the client keeps ours
    with pytest.raises(RefusedError) as info:
        await eguma.create_value(DEPOT_FIXED, None, ctx())
    assert info.value.provider_message == "Der Gutschein wurde bereits aktiviert."
    assert len(env.sim.state.activations) == 1


async def test_activate_free_amount(eguma: EgumaClient, env: Env) -> None:
    status = await eguma.check_value(DEPOT_FREE)
    assert status.can_create and status.free_amount and status.amount is None
    done = await eguma.create_value(DEPOT_FREE, chf(7500), ctx())
    assert done.amount == chf(7500)
    assert env.sim.voucher(DEPOT_FREE).balance_in_cents == 7500


async def test_activate_amount_only_for_free_amount(eguma: EgumaClient, env: Env) -> None:
    with pytest.raises(RefusedError) as info:
        await eguma.create_value(DEPOT_FIXED, chf(2000), ctx())
    assert info.value.provider_message == "Für diesen Gutschein kann kein Betrag angegeben werden."
    with pytest.raises(RefusedError) as info:
        await eguma.create_value(DEPOT_FREE, None, ctx())
    assert info.value.provider_message == "Für diesen Gutschein muss ein Betrag angegeben werden."
    assert env.sim.state.activations == []


async def test_activation_status_of_unknown_voucher(eguma: EgumaClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await eguma.check_value("NOPE-NOPE-NOPE")
    assert info.value.provider_message == "Der Gutschein ist nicht vorhanden."


async def test_deactivate_sold_unused_depot_voucher(eguma: EgumaClient, env: Env) -> None:
    status = await eguma.check_undo("DEPO-SOLD-0100")
    assert status.can_undo and status.amount == chf(10000) and status.message == ""
    done = await eguma.undo_value("DEPO-SOLD-0100", ctx(), "order 1-0042 cancelled")
    assert done.code == DEPOT_SOLD and done.amount == chf(10000)
    row = env.sim.state.deactivations[-1]
    assert (row.code, row.amount_in_cents, row.reason) == (DEPOT_SOLD, 10000, "order 1-0042 cancelled")
    # back in the stack: can be sold again
    assert (await eguma.check_value(DEPOT_SOLD)).can_create


async def test_deactivate_refused_when_used_or_not_activated(eguma: EgumaClient, env: Env) -> None:
    used = await eguma.check_undo(DEPOT_SPENT)
    assert not used.can_undo and used.amount == chf(0)
    assert used.message == "Der Gutschein wurde bereits eingelöst und kann nicht deaktiviert werden."
    with pytest.raises(RefusedError) as info:
        await eguma.undo_value(DEPOT_SPENT, ctx(), None)
    assert info.value.provider_message == used.message

    fresh = await eguma.check_undo(DEPOT_FIXED)
    assert not fresh.can_undo
    assert fresh.message == "Der Gutschein wurde noch nicht aktiviert."
    assert env.sim.state.deactivations == []


async def test_deactivate_after_redeem_and_full_cancel(eguma: EgumaClient) -> None:
    auth = await eguma.authorize(DEPOT_SOLD, chf(1000), ctx())
    assert not (await eguma.check_undo(DEPOT_SOLD)).can_undo
    await eguma.void(paid(auth), auth.amount, ctx())
    assert (await eguma.check_undo(DEPOT_SOLD)).can_undo


# -- failures -----------------------------------------------------------------------------
async def test_wrong_key_is_authentication_error_without_the_key(env: Env) -> None:
    secret = "sk-live-0123456789-SECRET"
    with pytest.raises(AuthenticationError) as info:
        await env.client(api_key=secret).balance(PAID)
    exc = info.value
    assert "pos keys set --provider eguma" in exc.hint
    assert_no_secret(exc, secret)
    assert env.sim.state.requests[-1].status == 401


async def test_provider_text_echoing_the_key_is_redacted(eguma: EgumaClient, env: Env) -> None:
    env.sim.fail_next(1, status=400, body=f"Ungültige Anfrage ?apikey={KEY}")
    with pytest.raises(RefusedError) as info:
        await eguma.balance(PAID)
    assert_no_secret(info.value, KEY)
    assert info.value.provider_message == "Ungültige Anfrage ?apikey=***"


async def test_server_error_on_a_post_is_an_unknown_outcome(eguma: EgumaClient, env: Env) -> None:
    """A 500 may come after the provider committed: reconcile, never resend."""
    env.sim.fail_next(1, status=500)
    with pytest.raises(UnknownOutcome) as info:
        await eguma.authorize(PAID, chf(1000), ctx())
    assert info.value.outcome_unknown and not info.value.safe_to_retry
    assert env.sim.state.redemptions == {}
    assert (await eguma.balance(PAID)).balance == chf(5000)  # fault consumed


async def test_server_error_on_a_get_is_unavailable(eguma: EgumaClient, env: Env) -> None:
    env.sim.fail_next(1, status=500)
    with pytest.raises(UnavailableError) as info:
        await eguma.balance(PAID)
    assert info.value.safe_to_retry and not info.value.outcome_unknown
    assert "another payment method" in info.value.hint


async def test_slow_answer_to_redeem_is_unknown_outcome(env: Env) -> None:
    eguma = env.client(timeout_s=0.2)
    env.sim.set_latency(0.6)
    with pytest.raises(UnknownOutcome) as info:
        await eguma.authorize(PAID, chf(1000), ctx("order-9"))
    assert info.value.outcome_unknown and not info.value.safe_to_retry
    assert_no_secret(info.value, KEY)
    # the provider committed before it was slow to answer (over uvicorn: in its own thread)
    assert wait_for(lambda: len(env.sim.state.redemptions) == 1, 10.0)
    [row] = env.sim.state.redemptions.values()
    assert (row.code, row.amount_in_cents, row.reference) == (PAID, 1000, "order-9")
    assert env.sim.voucher(PAID).balance_in_cents == 4000


async def test_slow_answer_to_balance_is_timeout(env: Env) -> None:
    eguma = env.client(timeout_s=0.2)
    env.sim.set_latency(0.6)
    with pytest.raises(ProviderTimeout) as info:
        await eguma.balance(PAID)
    assert not isinstance(info.value, UnknownOutcome)


async def test_dropped_answer_after_commit_is_unknown_then_reconciled(
    eguma: EgumaClient, env: Env
) -> None:
    before = (await eguma.balance(PAID)).balance
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome) as info:
        await eguma.authorize(PAID, chf(2500), ctx("order-11"))
    assert_no_secret(info.value, KEY)
    [row] = env.sim.state.redemptions.values()
    assert (row.amount_in_cents, row.reference) == (2500, "order-11")
    assert env.sim.state.requests[-1].delivered is False
    after = (await eguma.balance(PAID)).balance
    assert after == chf(2500)
    assert redeem_applied(before, after, chf(2500)) is True


async def test_garbage_body_is_bad_response(eguma: EgumaClient, env: Env) -> None:
    env.sim.fail_next(1, status=200, body="<html>proxy says hi</html>", content_type="text/html")
    with pytest.raises(BadResponse) as info:
        await eguma.balance(PAID)
    assert not isinstance(info.value, UnknownOutcome)


async def test_garbage_body_on_redeem_is_unknown_outcome(eguma: EgumaClient, env: Env) -> None:
    env.sim.fail_next(1, status=200, body="not json")
    with pytest.raises(BadResponse) as info:
        await eguma.authorize(PAID, chf(100), ctx())
    assert isinstance(info.value, UnknownOutcome)


@pytest.mark.parametrize(
    "body",
    [
        '{"is_redeemable": "yes", "balance_in_cents": 100, "code": "X"}',
        '{"is_redeemable": true, "code": "X"}',
        '{"is_redeemable": true, "balance_in_cents": 1.5, "code": "X"}',
        '[1, 2, 3]',
    ],
)
async def test_invalid_json_fields_are_bad_response(eguma: EgumaClient, env: Env, body: str) -> None:
    env.sim.fail_next(1, status=200, body=body, content_type="application/json")
    with pytest.raises(BadResponse):
        await eguma.balance(PAID)


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient() as http:
        eguma = EgumaClient(http, KEY, f"http://127.0.0.1:{port}", "CHF", 0.5)
        with pytest.raises(UnavailableError) as info:
            await eguma.authorize(PAID, chf(100), ctx())
    assert not isinstance(info.value, UnknownOutcome)
    assert_no_secret(info.value, KEY)


async def test_httpx_log_lines_do_not_contain_the_key(
    eguma: EgumaClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await eguma.balance(PAID)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records if r.name == "httpx")
    assert all(KEY not in r.getMessage() for r in caplog.records)


async def test_one_connection_is_reused(
    http_server: tuple[ServerThread, EgumaSimulator, FakeClock],
) -> None:
    server, sim, _clock = http_server
    sim.reset()
    async with httpx.AsyncClient() as http:
        eguma = EgumaClient(http, KEY, server.url, "CHF", TIMEOUT_S)
        await eguma.balance(PAID)
        auth = await eguma.authorize(PAID, chf(100), ctx())
        await eguma.void(paid(auth), auth.amount, ctx())
        await eguma.balance(PAID)
        await eguma.check_value(DEPOT_FIXED)
    clients = {r.client for r in sim.state.requests}
    assert len(sim.state.requests) == 5
    assert len(clients) == 1, clients


async def test_owned_http_client_is_closed() -> None:
    app, _sim = build_app()
    eguma = EgumaClient.create(KEY, "http://eguma.sim", "CHF", 1.0, transport=in_process_transport(app))
    assert (await eguma.balance(PAID)).balance == chf(5000)
    await eguma.aclose()
    with pytest.raises(RuntimeError):
        await eguma._http.get("http://eguma.sim/")


# -- the error mapping, exhaustively (httpx.MockTransport) ---------------------------------
def mock_client(handler: httpx.MockTransport) -> EgumaClient:
    return EgumaClient(httpx.AsyncClient(transport=handler), KEY, "https://api.e-guma.ch", "CHF", 0.5)


def raising(exc_type: type[httpx.RequestError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        # worst case: the httpx error text holds the full URL, key included
        raise exc_type(f"failed: {request.url}", request=request)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("exc_type", "on_get", "on_post"),
    [
        (httpx.ConnectTimeout, ProviderTimeout, ProviderTimeout),
        (httpx.PoolTimeout, ProviderTimeout, ProviderTimeout),
        (httpx.ConnectError, UnavailableError, UnavailableError),
        (httpx.ReadTimeout, ProviderTimeout, UnknownOutcome),
        (httpx.WriteTimeout, ProviderTimeout, UnknownOutcome),
        (httpx.ReadError, UnavailableError, UnknownOutcome),
        (httpx.WriteError, UnavailableError, UnknownOutcome),
        (httpx.RemoteProtocolError, UnavailableError, UnknownOutcome),
    ],
)
async def test_transport_failures_map_by_whether_the_request_was_sent(
    exc_type: type[httpx.RequestError], on_get: type[ProviderError], on_post: type[ProviderError]
) -> None:
    eguma = mock_client(raising(exc_type))
    with pytest.raises(on_get) as got:
        await eguma.balance(PAID)
    with pytest.raises(on_post) as posted:
        await eguma.authorize(PAID, chf(100), ctx("r"))
    assert not isinstance(got.value, UnknownOutcome)
    assert posted.value.outcome_unknown == (on_post is UnknownOutcome)
    for exc in (got.value, posted.value):
        assert_no_secret(exc, KEY)


@pytest.mark.parametrize(
    ("status", "on_get", "on_post"),
    [
        (403, AuthenticationError, AuthenticationError),
        (404, RefusedError, RefusedError),
        (429, UnavailableError, UnavailableError),
        (500, UnavailableError, UnknownOutcome),
        (502, UnavailableError, UnknownOutcome),
        (503, UnavailableError, UnavailableError),
        (504, UnavailableError, UnknownOutcome),
        (302, BadResponse, UnknownOutcome),
    ],
)
async def test_statuses_map_to_typed_errors(
    status: int, on_get: type[ProviderError], on_post: type[ProviderError]
) -> None:
    eguma = mock_client(httpx.MockTransport(lambda request: httpx.Response(status, text="Fehler")))
    with pytest.raises(on_get):
        await eguma.balance(PAID)
    with pytest.raises(on_post):
        await eguma.authorize(PAID, chf(100), ctx("r"))


async def test_requests_carry_key_as_query_and_json_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": PAID, "balance_in_cents": 4900, "redeem_token": "t1"})

    eguma = mock_client(httpx.MockTransport(handler))
    auth = await eguma.authorize("l4fu-5lqt-kjr3", chf(100), ctx("order-1"))
    [request] = seen
    assert request.url.path == f"/v1/vouchers/{PAID}/redeem.json"
    assert request.url.params["apikey"] == KEY and "apikey" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.read() == b'{"amount_in_cents":100,"reference_number":"order-1"}'
    assert request.extensions["timeout"] == {"connect": 0.5, "read": 0.5, "write": 0.5, "pool": 0.5}
    assert auth.refs[REDEEM_TOKEN] == "t1" and auth.new_balance == chf(4900)


async def test_redeem_answer_without_token_is_unknown_outcome() -> None:
    body = {"code": PAID, "balance_in_cents": 1}
    eguma = mock_client(httpx.MockTransport(lambda r: httpx.Response(200, json=body)))
    with pytest.raises(UnknownOutcome):
        await eguma.authorize(PAID, chf(100), ctx())


async def test_balance_in_another_currency_is_bad_response() -> None:
    body = {"code": PAID, "is_redeemable": True, "balance_in_cents": 100, "currency": "EUR"}
    eguma = mock_client(httpx.MockTransport(lambda r: httpx.Response(200, json=body)))
    with pytest.raises(BadResponse, match="EUR"):
        await eguma.balance(PAID)


def test_missing_key_is_refused_at_construction() -> None:
    with pytest.raises(AuthenticationError) as info:
        EgumaClient(offline_client()._http, "", "http://x", "CHF", 1.0)
    assert "pos keys set --provider eguma" in info.value.hint
