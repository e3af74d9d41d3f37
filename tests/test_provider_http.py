"""The shared provider HTTP plumbing (pos_app.providers.http.ProviderHttp).

Provider-neutral: a requester with bearer-header auth and one with a query
key, both against ``httpx.MockTransport``, plus a real server (the E-GUMA
simulator in a uvicorn thread) for connection reuse and "sent once".
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pos_app.providers.base import (
    AuthenticationError,
    BadResponse,
    NotFoundError,
    ProviderError,
    ProviderTimeout,
    RefusedError,
    UnavailableError,
    UnknownOutcome,
)
from pos_app.providers.eguma.simulator import EgumaSimulator, ServerThread, build_app
from pos_app.providers.http import MAX_SHOWN_BODY, ProviderHttp, is_mutating

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-live-CANARY-4b1d-9e77"
URL = "https://api.example.test/v2/cards/1234/charge"
Handler = Callable[[httpx.Request], httpx.Response]


def requester(handler: Handler, cls: type[ProviderHttp] = ProviderHttp, **kwargs: float) -> ProviderHttp:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return cls(http, provider="acme", display_name="ACME Cards", timeout_s=kwargs.get("timeout_s", 0.5),
               deadline_s=kwargs.get("deadline_s"), secrets=(SECRET,))


async def call(http: ProviderHttp, method: str, **kwargs: object) -> dict[str, object]:
    """A call that authenticates both ways a provider might (header and query)."""
    return await http.json_object(
        method, URL, operation="charge" if method == "POST" else "lookup",
        headers={"Authorization": f"Bearer {SECRET}"}, params={"key": SECRET}, **kwargs,  # type: ignore[arg-type]
    )


def assert_clean(exc: BaseException) -> None:
    """No chained exception (it would carry the URL) and the secret nowhere."""
    assert exc.__cause__ is None and exc.__context__ is None
    text = "".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc))
    assert SECRET not in text
    assert "api.example.test" not in str(exc)


def test_is_mutating() -> None:
    assert not any(is_mutating(m) for m in ("GET", "get", "HEAD", "OPTIONS"))
    assert all(is_mutating(m) for m in ("POST", "PUT", "PATCH", "DELETE"))


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        requester(lambda r: httpx.Response(200), timeout_s=0)


async def test_sends_auth_per_call_and_an_explicit_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    http = requester(handler, timeout_s=0.7)
    assert await call(http, "POST", json={"amount": 100}) == {"ok": True}
    [request] = seen
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.url.params["key"] == SECRET
    assert request.read() == b'{"amount":100}'
    assert request.extensions["timeout"] == {"connect": 0.7, "read": 0.7, "write": 0.7, "pool": 0.7}


@pytest.mark.parametrize(
    ("status", "on_get", "on_post"),
    [
        (400, RefusedError, RefusedError),
        (401, AuthenticationError, AuthenticationError),
        (403, AuthenticationError, AuthenticationError),
        (404, RefusedError, RefusedError),
        (408, UnavailableError, UnavailableError),
        (409, RefusedError, RefusedError),
        (422, RefusedError, RefusedError),
        (429, UnavailableError, UnavailableError),
        (500, UnavailableError, UnknownOutcome),
        (502, UnavailableError, UnknownOutcome),
        (503, UnavailableError, UnavailableError),
        (504, UnavailableError, UnknownOutcome),
        (302, BadResponse, UnknownOutcome),
    ],
)
async def test_status_mapping(status: int, on_get: type[ProviderError], on_post: type[ProviderError]) -> None:
    http = requester(lambda r: httpx.Response(status, text="Nope"))
    with pytest.raises(on_get) as got:
        await call(http, "GET")
    with pytest.raises(on_post) as posted:
        await call(http, "POST")
    assert not got.value.outcome_unknown, "a read never leaves an unknown outcome"
    assert posted.value.outcome_unknown == (on_post is UnknownOutcome)
    if on_get is RefusedError:
        assert type(got.value) is RefusedError and got.value.provider_message == "Nope"
    for exc in (got.value, posted.value):
        assert exc.provider == "acme" and "ACME Cards" in exc.message
        assert exc.operation in ("lookup", "charge")
        assert_clean(exc)


class AcmeHttp(ProviderHttp):
    """A provider whose 404 means "no such card" and whose 409 says why in its body."""

    def provider_error(self, status: int, text: str, *, mutating: bool, operation: str) -> ProviderError | None:
        if status == 404:
            return NotFoundError(f"ACME: {text}", self.provider, provider_message=text, operation=operation)
        if status == 409:
            return RefusedError("ACME: card blocked", self.provider, provider_message=text, operation=operation)
        return None


async def test_the_provider_hook_decides_first_then_the_generic_mapping() -> None:
    status = {"value": 404}
    http = requester(lambda r: httpx.Response(status["value"], text="Karte unbekannt"), AcmeHttp)
    with pytest.raises(NotFoundError) as unknown:
        await call(http, "GET")
    assert unknown.value.provider_message == "Karte unbekannt"
    status["value"] = 409
    with pytest.raises(RefusedError, match="card blocked"):
        await call(http, "POST")
    status["value"] = 500
    with pytest.raises(UnknownOutcome):
        await call(http, "POST")


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc_type", "on_get", "on_post"),
    [
        (httpx.ConnectTimeout, ProviderTimeout, ProviderTimeout),
        (httpx.PoolTimeout, ProviderTimeout, ProviderTimeout),
        (httpx.ConnectError, UnavailableError, UnavailableError),
        (httpx.ReadTimeout, ProviderTimeout, UnknownOutcome),
        (httpx.WriteTimeout, ProviderTimeout, UnknownOutcome),
        (httpx.ReadError, UnavailableError, UnknownOutcome),
        (httpx.RemoteProtocolError, UnavailableError, UnknownOutcome),
        (httpx.DecodingError, BadResponse, UnknownOutcome),
    ],
)
async def test_transport_failures_are_sent_once_and_carry_nothing(
    exc_type: type[httpx.RequestError], on_get: type[ProviderError], on_post: type[ProviderError]
) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        # worst case: the httpx error text holds the full URL with the key
        raise exc_type(f"failed: {request.url} {request.headers['authorization']}", request=request)

    http = requester(handler)
    with pytest.raises(on_get) as got:
        await call(http, "GET")
    with pytest.raises(on_post) as posted:
        await call(http, "POST")
    assert sent == ["GET", "POST"], "each request goes out exactly once"
    assert posted.value.outcome_unknown == (on_post is UnknownOutcome)
    if on_post is UnknownOutcome:
        assert not posted.value.safe_to_retry
    for exc in (got.value, posted.value):
        assert_clean(exc)


async def test_a_read_sent_as_post_can_say_it_changes_nothing() -> None:
    http = requester(raising(httpx.ReadTimeout("slow")))
    with pytest.raises(ProviderTimeout) as info:
        await call(http, "POST", mutating=False)
    assert not info.value.outcome_unknown


async def test_anything_else_from_the_stack_is_named_by_type_only() -> None:
    http = requester(raising(RuntimeError(f"proxy bug near {URL}?key={SECRET}")))
    with pytest.raises(UnavailableError) as got:
        await call(http, "GET")
    with pytest.raises(UnknownOutcome) as posted:
        await call(http, "POST")
    for exc in (got.value, posted.value):
        assert "RuntimeError" in exc.message and "proxy bug" not in exc.message
        assert_clean(exc)


async def test_the_overall_deadline_bounds_a_trickling_server() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)  # MockTransport applies no httpx timeouts: only the deadline can end this
        return httpx.Response(200, json={})

    http = requester(handler, timeout_s=0.05, deadline_s=0.2)
    async with asyncio.timeout(30):
        with pytest.raises(ProviderTimeout) as got:
            await call(http, "GET")
        with pytest.raises(UnknownOutcome) as posted:
            await call(http, "POST")
    for exc in (got.value, posted.value):
        assert_clean(exc)


async def test_an_echoed_key_is_masked_in_the_provider_text() -> None:
    body = f"Invalid credentials: Bearer {SECRET} / ?key={SECRET} / raw {SECRET}"
    http = requester(lambda r: httpx.Response(400, text=body))
    with pytest.raises(RefusedError) as info:
        await call(http, "POST")
    assert info.value.provider_message == "Invalid credentials: Bearer *** / ?key=*** / raw ***"
    assert_clean(info.value)


async def test_a_long_body_is_trimmed_after_masking() -> None:
    # the key straddles the cut: trimming first would show half of it
    body = "x" * (MAX_SHOWN_BODY - 10) + SECRET + "y" * 500
    http = requester(lambda r: httpx.Response(422, text=body))
    with pytest.raises(RefusedError) as info:
        await call(http, "GET")
    shown = info.value.provider_message
    assert len(shown) <= MAX_SHOWN_BODY
    assert SECRET[:8] not in shown and shown.endswith("***" + "y" * 7)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b""])
async def test_an_answer_that_is_not_a_json_object(body: bytes) -> None:
    http = requester(lambda r: httpx.Response(200, content=body))
    with pytest.raises(BadResponse) as got:
        await call(http, "GET")
    with pytest.raises(BadResponse) as posted:
        await call(http, "POST")
    assert not isinstance(got.value, UnknownOutcome)
    assert isinstance(posted.value, UnknownOutcome), "a POST answered unreadably may have happened"
    for exc in (got.value, posted.value):
        assert_clean(exc)


async def test_log_lines_name_no_key(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([httpx.Response(200, json={}), httpx.Response(500, text=f"boom {SECRET}")])
    http = requester(lambda r: next(answers))
    with caplog.at_level(logging.DEBUG):
        await call(http, "GET")
        with pytest.raises(UnknownOutcome):
            await call(http, "POST")
        with pytest.raises(ProviderTimeout):
            await requester(raising(httpx.ConnectTimeout(f"x {SECRET}"))).json_object(
                "GET", URL, operation="lookup", params={"key": SECRET}, subject="card …1234"
            )
    assert any("lookup card …1234 failed: ProviderTimeout" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


# -- against a real server -------------------------------------------------------------
KEY = "demo-outlet-key"
PAID = "L4FU5LQTKJR3"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerThread, EgumaSimulator]]:
    app, sim = build_app()
    with ServerThread(app) as running:
        yield running, sim


def eguma_url(server: ServerThread, action: str, collection: str = "vouchers", code: str = PAID) -> str:
    return f"{server.url}/v1/{collection}/{code}/{action}.json"


async def test_one_tcp_connection_for_many_requests(server: tuple[ServerThread, EgumaSimulator]) -> None:
    running, sim = server
    sim.reset()
    async with httpx.AsyncClient() as client:
        http = ProviderHttp(client, provider="eguma", display_name="E-GUMA", timeout_s=5.0, secrets=(KEY,))
        auth = {"apikey": KEY}
        for amount in (100, 200, 300):
            await http.json_object("GET", eguma_url(running, "balance"), operation="balance", params=auth)
            await http.json_object("POST", eguma_url(running, "redeem"), operation="redeem",
                                   params=auth, json={"amount_in_cents": amount})
        last = await http.json_object("GET", eguma_url(running, "balance"), operation="balance", params=auth)
    assert last["balance_in_cents"] == 5000 - 600
    assert len(sim.state.requests) == 7
    ports = {r.client for r in sim.state.requests}
    assert len(ports) == 1, ports
    sim.reset()


async def test_a_post_whose_answer_is_lost_is_not_sent_again(
    server: tuple[ServerThread, EgumaSimulator],
) -> None:
    running, sim = server
    sim.reset()
    sim.drop_next_posts(1)
    async with httpx.AsyncClient() as client:
        http = ProviderHttp(client, provider="eguma", display_name="E-GUMA", timeout_s=5.0, secrets=(KEY,))
        with pytest.raises(UnknownOutcome) as info:
            await http.json_object("POST", eguma_url(running, "redeem"), operation="redeem",
                                   params={"apikey": KEY}, json={"amount_in_cents": 700})
    assert_clean_of(info.value, KEY)
    posts = [r for r in sim.state.requests if r.method == "POST"]
    assert [(r.status, r.delivered) for r in posts] == [(200, False)]
    assert [r.amount_in_cents for r in sim.state.redemptions.values()] == [700]
    assert sim.voucher(PAID).balance_in_cents == 4300
    sim.reset()


def assert_clean_of(exc: BaseException, secret: str) -> None:
    assert exc.__cause__ is None and exc.__context__ is None
    assert secret not in "".join(traceback.format_exception(exc)) + repr(vars(exc))


def test_a_client_loads_no_server_libraries() -> None:
    """simkit (Starlette, uvicorn) is for simulators; a real till's client never loads it."""
    code = (
        "import sys\n"
        "import pos_app.providers, pos_app.providers.http, pos_app.providers.eguma.client\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')\n"
        "             or m == 'pos_app.providers.simkit'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
