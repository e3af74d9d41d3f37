"""What every provider simulator shares: faults, the request log, transports, servers.

A provider's simulator (``providers/<name>/simulator.py``) keeps its data
and its rules and builds on this module:

* :class:`SimulatorBase` holds the lock, the :class:`Faults`, the request
  log (in the provider's state, ``state.requests``) and the fault methods.
  A subclass gives :meth:`SimulatorBase._fresh_state` (its seed ledger) and
  :meth:`SimulatorBase._ledger_snapshot` (that ledger as JSON) and runs its
  rules under ``self._lock``.
* :func:`simulator_app` wraps the provider's Starlette routes and the
  generic admin routes (:func:`admin_routes`) in :class:`FaultMiddleware`.
* :func:`in_process_transport` serves it in-process (demo mode,
  ``sim://<name>``); :class:`ServerThread`, :func:`serve` and :func:`run`
  serve it over real HTTP with uvicorn.

The faults model what a real provider does to a till: it is slow
(``latency_s``, after the work), it answers with an error
(:meth:`SimulatorBase.fail_next`), it applies a request and the answer is
lost (:meth:`SimulatorBase.drop_next_posts`), and it applies a request
late, after the till stopped waiting (``apply_delay_s``, see
:class:`FaultMiddleware`). The request log never holds a query string,
because some providers (E-GUMA) put the key there.

This module imports Starlette and uvicorn; it is only imported when a
simulator is used, never by the provider port or a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = [
    "ADMIN_PREFIX",
    "ASGIApp",
    "Faults",
    "FaultMiddleware",
    "HasRequestLog",
    "JsonObject",
    "Reply",
    "RequestRecord",
    "ResponseDropped",
    "ServerThread",
    "SimulatorBase",
    "SimulatorTransport",
    "admin_routes",
    "in_process_transport",
    "json_body",
    "reply_response",
    "run",
    "serve",
    "simulator_app",
    "uvicorn_config",
    "writes",
]

_log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sim/"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

JsonObject = dict[str, Any]
Reply = tuple[int, JsonObject | str]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_T = TypeVar("_T")


def writes(method: str) -> bool:
    """Whether a request may change the provider's state (held, droppable).

    Every method but GET/HEAD/OPTIONS; the fault names say "POST" because
    E-GUMA (and most providers) only write with POST.
    """
    return method.upper() not in _SAFE_METHODS


# ---------------------------------------------------------------------------
# Faults and the request log
# ---------------------------------------------------------------------------
@dataclass
class Faults:
    """What the simulator does wrong on purpose (all off by default).

    * ``latency_s``: every API answer waits this long *after* the work.
    * ``apply_delay_s``: every API POST waits this long *before* its rule
      runs, and is applied even if the client has gone by then.
    * ``fail_count``/``fail_status``/``fail_body``/``fail_content_type``:
      answer the next N API requests with this, applying nothing.
    * ``drop_posts``: apply the next N POSTs, then give no answer.
    """

    latency_s: float = 0.0
    apply_delay_s: float = 0.0
    fail_count: int = 0
    fail_status: int = 500
    fail_body: str = "Internal Server Error"
    fail_content_type: str = "text/plain; charset=utf-8"
    drop_posts: int = 0


@dataclass
class RequestRecord:
    """One API request. ``status`` is what the simulator's rule (or an injected
    failure) answered; ``delivered`` is False when the answer was dropped or
    nobody was listening any more. No query string: keys are never logged."""

    method: str
    path: str
    client: str
    status: int | None = None
    delivered: bool = False


class HasRequestLog(Protocol):
    """A simulator's state: whatever ledger it keeps, plus the request log."""

    requests: list[RequestRecord]


StateT = TypeVar("StateT", bound=HasRequestLog)


class SimulatorBase(Generic[StateT]):
    """Lock, faults, request log and held POSTs of one simulated provider account.

    Rule methods of a subclass are synchronous and run under ``self._lock``,
    so a test thread may inspect or change the state while a uvicorn thread
    serves requests. ``state`` is replaced (not mutated) by :meth:`reset`.
    A subclass sets what :meth:`_fresh_state` needs (seed data, clock)
    before calling ``super().__init__()``, which builds the first state.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults = Faults()
        # POSTs accepted but not yet applied, and the tasks applying them (a
        # strong reference: a task nobody awaits any more must not be collected).
        self._held = 0
        self._applications: set[asyncio.Task[Any]] = set()
        self._state_file: Path | None = None  # where the ledger is kept (the demo), see persist
        self.state: StateT = self._fresh_state()

    # -- what a subclass provides ----------------------------------------------
    def _fresh_state(self) -> StateT:
        """The seed ledger, with an empty request log."""
        raise NotImplementedError

    def _ledger_snapshot(self) -> JsonObject:
        """The ledger as JSON (called under the lock; requests and faults are added)."""
        raise NotImplementedError

    def _dump_ledger(self) -> JsonObject:
        """The ledger as JSON that :meth:`_load_ledger` reads back (for :meth:`persist`)."""
        raise NotImplementedError

    def _load_ledger(self, data: JsonObject) -> None:
        """Replace the ledger with one written by :meth:`_dump_ledger` (called under the lock)."""
        raise NotImplementedError

    # -- persistence: the demo's simulators remember across restarts --------------
    def persist(self, path: Path) -> None:
        """Keep the ledger in ``path``: read it now if it is there, write it after
        every write request the simulator applied. A till restarted in demo mode
        then finds the vouchers as it left them, so a payment restored from its
        journal can still be cancelled. A file that cannot be read is set aside
        (``.unreadable``) and the seed data is used."""
        self._state_file = path
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            with self._lock:
                self._load_ledger(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _log.warning("simulator state %s cannot be read (%s): starting from the seed data", path, exc)
            with contextlib.suppress(OSError):
                path.replace(path.with_name(path.name + ".unreadable"))
            with self._lock:
                self.state = self._fresh_state()

    def _save(self) -> None:
        path = self._state_file
        if path is None:
            return
        with self._lock:
            text = json.dumps(self._dump_ledger(), sort_keys=True)
        temp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temp, path)
        except OSError as exc:
            _log.warning("simulator state %s cannot be written: %s", path, exc)

    # -- housekeeping ------------------------------------------------------------
    def reset(self) -> None:
        """Back to the seed data: ledger, request log and faults cleared.

        POSTs still held by ``apply_delay_s`` are not called back: they land
        in the fresh state. Call :meth:`wait_applied` first to avoid that.
        """
        with self._lock:
            self.state = self._fresh_state()
            self.faults = Faults()

    def snapshot(self) -> JsonObject:
        """A JSON-serialisable copy of the ledger, the request log, the faults
        and the number of POSTs still held (``pending_posts``)."""
        with self._lock:
            return {
                **self._ledger_snapshot(),
                "requests": [asdict(r) for r in self.state.requests],
                "faults": asdict(self.faults),
                "pending_posts": self._held,
            }

    # -- faults --------------------------------------------------------------------
    def set_latency(self, seconds: float) -> None:
        """Delay every API answer by ``seconds`` *after* the operation is applied."""
        with self._lock:
            self.faults.latency_s = max(0.0, seconds)

    def on_arrival(self, path: str, headers: dict[str, str], body: bytes) -> None:
        """Called when an API POST arrives and passed the injected failures, before
        ``apply_delay_s`` holds it: a provider with a lookup by reference can show
        the request as pending from here on. Does nothing by default."""

    def writes(self, method: str, path: str) -> bool:
        """Whether this request may change the ledger: held by ``apply_delay_s``,
        droppable. A provider that POSTs its reads too (Celbux) narrows it."""
        return writes(method)

    def set_apply_delay(self, seconds: float) -> None:
        """Hold every API POST ``seconds`` *before* applying it, and apply it
        even when the client has given up meanwhile (a provider still working
        on a request the till has timed out on). GETs are not held."""
        with self._lock:
            self.faults.apply_delay_s = max(0.0, seconds)

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        body: str = "Internal Server Error",
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        """Answer the next ``count`` API requests with ``status``/``body``, applying nothing."""
        with self._lock:
            self.faults.fail_count = count
            self.faults.fail_status = status
            self.faults.fail_body = body
            self.faults.fail_content_type = content_type

    def drop_next_posts(self, count: int = 1) -> None:
        """Apply the next ``count`` POSTs, then give the client no answer."""
        with self._lock:
            self.faults.drop_posts = count

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()

    def apply_faults(self, spec: JsonObject) -> JsonObject:
        """Set faults from the admin JSON (every key optional) and return them all::

            {"clear": true, "latency_s": 2.0, "apply_delay_s": 1.0,
             "fail_next": {"count": 1, "status": 500, "body": "...", "content_type": "text/plain"},
             "drop_next_posts": 1}

        Raises ``ValueError``/``TypeError`` for a malformed spec.
        """
        if spec.get("clear"):
            self.clear_faults()
        if "latency_s" in spec:
            self.set_latency(float(spec["latency_s"]))
        if "apply_delay_s" in spec:
            self.set_apply_delay(float(spec["apply_delay_s"]))
        if "fail_next" in spec:
            failure = spec["fail_next"]
            if not isinstance(failure, dict):
                raise ValueError("fail_next must be an object")
            self.fail_next(
                int(failure.get("count", 1)),
                int(failure.get("status", 500)),
                str(failure.get("body", "Internal Server Error")),
                str(failure.get("content_type", "text/plain; charset=utf-8")),
            )
        if "drop_next_posts" in spec:
            self.drop_next_posts(int(spec["drop_next_posts"]))
        with self._lock:
            return asdict(self.faults)

    # -- held POSTs ------------------------------------------------------------------
    def pending_posts(self) -> int:
        """How many POSTs are held by ``apply_delay_s`` and not applied yet."""
        with self._lock:
            return self._held

    async def wait_applied(self, timeout_s: float = 30.0) -> None:
        """Wait until every held POST has been applied (in-process or in a server thread).

        Tasks on the caller's loop are awaited; those of a server thread are
        polled. Raises ``TimeoutError`` after ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            while True:
                with self._lock:
                    if self._held == 0:
                        return
                    local = [t for t in self._applications if t.get_loop() is loop]
                if local:
                    await asyncio.wait(local)
                else:
                    await asyncio.sleep(0.01)

    def _start_application(self, work: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``work`` (hold, then apply) in its own task, counted until it is done.

        The task outlives the request that started it: cancelling the request
        (the in-process client's timeout) does not cancel the application.
        """
        task = asyncio.get_running_loop().create_task(work)
        with self._lock:
            self._held += 1
            self._applications.add(task)
        task.add_done_callback(self._application_done)
        return task

    def _application_done(self, task: asyncio.Task[Any]) -> None:
        with self._lock:
            self._held -= 1
            self._applications.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here, so a failure nobody awaits is logged once, by type.
            _log.error("simulator: applying a request failed: %s", type(task.exception()).__name__)

    # -- used by the middleware --------------------------------------------------------
    def _take_failure(self) -> tuple[int, str, str] | None:
        with self._lock:
            if self.faults.fail_count <= 0:
                return None
            self.faults.fail_count -= 1
            f = self.faults
            return f.fail_status, f.fail_body, f.fail_content_type

    def _take_drop(self) -> bool:
        with self._lock:
            if self.faults.drop_posts <= 0:
                return False
            self.faults.drop_posts -= 1
            return True

    def _record(self, method: str, path: str, client: str) -> RequestRecord:
        record = RequestRecord(method, path, client)
        with self._lock:
            self.state.requests.append(record)
        return record


# ---------------------------------------------------------------------------
# HTTP helpers for the provider's routes
# ---------------------------------------------------------------------------
def reply_response(reply: Reply) -> Response:
    """A rule's ``(status, payload)``: text becomes ``text/plain``, an object JSON."""
    status, payload = reply
    if isinstance(payload, str):
        return PlainTextResponse(payload, status_code=status)
    return JSONResponse(payload, status_code=status)


async def json_body(request: Request) -> JsonObject | None:
    """The request's JSON object; ``{}`` for an empty body; None if unreadable."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def admin_routes(sim: SimulatorBase[Any]) -> list[BaseRoute]:
    """Control over HTTP, for a simulator in another process or thread.

    * ``GET  /_sim/state``  -> :meth:`SimulatorBase.snapshot` (``pending_posts`` included)
    * ``POST /_sim/reset``
    * ``POST /_sim/faults`` -> :meth:`SimulatorBase.apply_faults`
    """

    async def state(request: Request) -> Response:
        return JSONResponse(sim.snapshot())

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse({"ok": True})

    async def faults(request: Request) -> Response:
        body = await json_body(request)
        if body is None:
            return JSONResponse({"error": "JSON object expected"}, status_code=400)
        try:
            return JSONResponse(sim.apply_faults(body))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return [
        Route(f"{ADMIN_PREFIX}state", state, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}reset", reset, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}faults", faults, methods=["POST"]),
    ]


def simulator_app(
    sim: SimulatorBase[Any],
    api: Sequence[BaseRoute],
    extra_admin: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """The ASGI app of a simulator: its API routes, the generic admin routes
    plus its own (``extra_admin``, under ``/_sim/``), behind the faults."""
    app = Starlette(routes=[*api, *admin_routes(sim), *extra_admin])
    return FaultMiddleware(app, sim)


# ---------------------------------------------------------------------------
# The fault middleware
# ---------------------------------------------------------------------------
class ResponseDropped(Exception):
    """Raised in-process when a response is dropped; :func:`in_process_transport`
    turns it into the ``httpx.RemoteProtocolError`` a real server would cause."""


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client left before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands the app the body read earlier.

    The app runs detached from the connection (it may run after the client
    left), so it never reads the real one; after the body it hears
    "disconnect": its answer is collected, not streamed.
    """
    given = False

    async def receive() -> Message:
        nonlocal given
        if given:
            return {"type": "http.disconnect"}
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Set ``gone`` when the server reports the client's disconnect.

    Called once the body has been read: uvicorn's and httpx's ``receive``
    then only return ``http.disconnect`` (client gone, or answer complete).
    """
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _close_connection(send: Send, gone: asyncio.Event) -> bool:
    """Close the client's connection without any response, if the server lets us.

    ASGI has no message for "hang up". uvicorn (h11 and httptools) passes
    its per-request cycle's bound ``send``, whose ``transport`` we close; we
    then wait for the disconnect that follows (``gone``, set by the
    watcher) so uvicorn does not try to answer 500 itself. Returns False
    when that is not possible (the in-process transport).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.BaseTransport):
        return False
    transport.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2.0):
            await gone.wait()
    return True


class FaultMiddleware:
    """Outermost layer: request log, injected failures, held POSTs, latency, dropped answers.

    An API request goes like this:

    1. it is logged (method, path, client address; no query string) and its
       body is read while the client is there;
    2. a watcher notes when the client disconnects;
    3. an injected failure answers at once, applying nothing; otherwise a
       POST is applied in a task of its own (:meth:`SimulatorBase._start_application`)
       that first waits ``apply_delay_s``; the request awaits it through
       ``asyncio.shield``, so a cancelled request (the in-process
       transport's timeout) leaves the application running, and a client
       that disconnects (uvicorn does not cancel the app then) changes
       nothing either. GETs run inline, never held;
    4. ``latency_s``, then the answer goes out if the client still listens
       (else ``delivered`` stays False), unless a POST's answer is to be
       dropped.
    """

    def __init__(self, app: ASGIApp, sim: SimulatorBase[Any]) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        client = scope.get("client") or ("?", 0)
        record = self.sim._record(method, path, f"{client[0]}:{client[1]}")
        body = await _read_body(receive)
        if body is None:
            _log.info("%s %s (client left before its request was complete)", method, path)
            return
        gone = asyncio.Event()
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, gone))
        try:
            await self._serve(scope, body, record, send, gone)
        finally:
            watcher.cancel()

    async def _serve(
        self, scope: Scope, body: bytes, record: RequestRecord, send: Send, gone: asyncio.Event
    ) -> None:
        method, path = scope["method"], scope["path"]
        failure = self.sim._take_failure()
        write = self.sim.writes(method, path)
        if write:
            if failure is None:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
                self.sim.on_arrival(path, headers, body)
            hold = 0.0 if failure is not None else self.sim.faults.apply_delay_s
            application = self.sim._start_application(self._apply(scope, body, record, failure, hold))
            messages = await asyncio.shield(application)
        else:
            messages = await self._apply(scope, body, record, failure, 0.0)
        latency = self.sim.faults.latency_s
        if latency > 0:
            await asyncio.sleep(latency)
        if gone.is_set():
            _log.info("%s %s %s (client gone, answer not delivered)", method, path, record.status)
            return
        # An injected failure applied nothing, so it is never "dropped after commit".
        if write and failure is None and self.sim._take_drop():
            _log.info("%s %s %s (answer dropped)", method, path, record.status)
            if not await _close_connection(send, gone):
                raise ResponseDropped(f"{method} {path}")
            return
        # Marked before the last message goes out: once it is sent the client
        # may already read the answer (and a test the log) before this
        # coroutine runs again. A send that fails takes the mark back.
        try:
            for index, message in enumerate(messages):
                record.delivered = index == len(messages) - 1
                await send(message)
        except BaseException:
            record.delivered = False
            raise
        _log.info("%s %s %s", method, path, record.status)

    async def _apply(
        self,
        scope: Scope,
        body: bytes,
        record: RequestRecord,
        failure: tuple[int, str, str] | None,
        hold: float,
    ) -> list[Message]:
        """Wait ``hold``, then run the API (or the injected failure) into a list
        of messages, recording the status it produced."""
        if hold > 0:
            await asyncio.sleep(hold)
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        if failure is not None:
            status, text, content_type = failure
            await Response(text, status_code=status, media_type=content_type)(scope, _replay(body), keep)
        else:
            await self.app(scope, _replay(body), keep)
        record.status = next(
            (m["status"] for m in messages if m["type"] == "http.response.start"), None
        )
        if failure is None and self.sim.writes(scope["method"], scope["path"]) and record.status is not None \
                and record.status < 300:
            self.sim._save()
        return messages


# ---------------------------------------------------------------------------
# Transports and servers
# ---------------------------------------------------------------------------
class SimulatorTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that behaves like a network for the client.

    Plain ``ASGITransport`` ignores timeouts and would hand a dropped answer
    to the client as a foreign exception. This one applies the request's read
    timeout (``httpx.ReadTimeout``) and turns :class:`ResponseDropped` into
    ``httpx.RemoteProtocolError``, as a real connection would. The timeout
    cancels the request's coroutine; a POST the simulator is holding is
    applied anyway (see :class:`FaultMiddleware`).
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read") if isinstance(timeouts, dict) else None
        try:
            async with asyncio.timeout(read_timeout):
                return await super().handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("simulated read timeout", request=request) from None
        except ResponseDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None


def in_process_transport(app: ASGIApp) -> httpx.ASGITransport:
    """A transport that serves ``app`` in-process (the demo's ``sim://<name>``)."""
    return SimulatorTransport(app=app)


KEEP_ALIVE_S = 75


def uvicorn_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """uvicorn settings for a simulator.

    The access log is off: it prints the query string, which holds the key
    for some providers (E-GUMA's ``?apikey=``). Idle connections are kept 75 s,
    as web servers commonly do (nginx's default), not uvicorn's 5 s: the till's
    keep-alive is tested against what a provider does.
    """
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_S,
    )


async def serve(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 8765, *, name: str = "Simulator"
) -> None:
    """Serve ``app`` over HTTP until cancelled or interrupted.

    On cancellation uvicorn is asked to shut down and awaited, so the
    listening socket and open connections are closed before this returns.
    """
    server = uvicorn.Server(uvicorn_config(app, host, port))
    _log.info("%s on http://%s:%d", name, host, port)
    task = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8765, *, name: str = "Simulator") -> None:
    """Blocking: serve ``app`` until interrupted (``pos simulate <provider>``)."""
    asyncio.run(serve(app, host, port, name=name))


class ServerThread:
    """Serve an ASGI app with uvicorn on a background thread (tests, e2e).

    The socket is bound before the thread starts (port 0 picks a free port),
    so ``url`` is valid as soon as :meth:`start` returns.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(uvicorn_config(app, self.host, self.port))
        self._thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout_s: float = 5.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
