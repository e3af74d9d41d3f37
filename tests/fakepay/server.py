"""FakePay's simulator as a process of its own, over real HTTP, for the crash
tests and the soak (E-GUMA's is ``pos simulate eguma``; FakePay is test-only,
so ``pos simulate`` does not know it)::

    python -m tests.fakepay.server --port 8766

The usual admin routes (``/_sim/state``, ``/_sim/reset``, ``/_sim/faults``)
plus a **gate**: ``POST /_sim/gate {"open": false}`` holds every API POST
that arrives from then on *after* FakePay has recorded it (the lookup says
``pending``) and *before* its rule runs, until ``{"open": true}``. It is
``apply_delay_s`` without a clock: a request FakePay is still working on for
as long as a test needs, however slow the machine (held POSTs count in
``pending_posts``). ``/_sim/reset`` does not open it; the test does.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pos_app.providers import simkit
from pos_app.providers.simkit import ADMIN_PREFIX, ASGIApp, json_body
from tests.fakepay.simulator import FakePaySimulator, _api_routes, load_data

Endpoint = Callable[[Request], Awaitable[Response]]


class Gate:
    """Open unless a test closed it; waited on by every API POST."""

    def __init__(self) -> None:
        self._open: asyncio.Event | None = None  # made on the server's loop

    @property
    def event(self) -> asyncio.Event:
        if self._open is None:
            self._open = asyncio.Event()
            self._open.set()
        return self._open

    def wrap(self, endpoint: Endpoint) -> Endpoint:
        async def gated(request: Request) -> Response:
            await self.event.wait()
            return await endpoint(request)

        return gated

    async def route(self, request: Request) -> Response:
        body = await json_body(request)
        if body is None or not isinstance(body.get("open"), bool):
            return JSONResponse({"error": 'expected {"open": true|false}'}, status_code=400)
        if body["open"]:
            self.event.set()
        else:
            self.event.clear()
        return JSONResponse({"open": self.event.is_set()})


def build_gated_app() -> tuple[ASGIApp, FakePaySimulator, Gate]:
    sim = FakePaySimulator(load_data())
    gate = Gate()
    routes: list[BaseRoute] = []
    for route in _api_routes(sim):
        assert isinstance(route, Route)
        if route.methods and "POST" in route.methods:
            route = Route(route.path, gate.wrap(route.endpoint), methods=["POST"])
        routes.append(route)
    extra = [Route(f"{ADMIN_PREFIX}gate", gate.route, methods=["POST"])]
    return simkit.simulator_app(sim, routes, extra), sim, gate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    app, _sim, _gate = build_gated_app()
    try:
        simkit.run(app, args.host, args.port, name="FakePay simulator")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
