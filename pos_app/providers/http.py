"""HTTP plumbing every provider client shares: send once, typed errors, no secrets.

A client (``providers/<name>/client.py``) builds its URLs, bodies and
authentication (E-GUMA: ``?apikey=``; others: bearer or signed headers) and
hands each request to one :class:`ProviderHttp`, which keeps these rules:

* One injected ``httpx.AsyncClient`` for every call (connection reuse), an
  explicit ``httpx.Timeout`` per request and an overall deadline
  (``asyncio.timeout``), so a server that trickles bytes cannot hang the till.
* Every request is sent **once**. A POST is never retried here: a provider
  that deduplicates by our reference is retried by the caller, knowingly.
* httpx errors carry the URL, and so maybe a key. They are turned into
  typed errors *returned* from the ``except`` block and raised outside it:
  the typed error has neither ``__cause__`` nor ``__context__``, and no
  message built here contains a URL, a header or a secret. Anything
  unexpected from the HTTP stack is named by its type only.
* Transport failures and statuses become the port's typed errors in one
  place (:meth:`ProviderHttp.transport_error`, :meth:`ProviderHttp.status_error`),
  by the question that matters: may the request have been applied?
  A provider gives its own meaning of an error status by overriding
  :meth:`ProviderHttp.provider_error`.
* Error bodies are shown trimmed, with every secret masked first (:func:`redact`),
  and every string of a JSON answer is redacted as it is parsed.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pos_app.i18n import _
from pos_app.providers.base import (
    AuthenticationError,
    ProviderError,
    ProviderTimeout,
    RefusedError,
    UnavailableError,
    UnknownOutcome,
    bad_response,
    install_httpx_log_redaction,
    redact,
    redact_json,
)

__all__ = ["MAX_SHOWN_BODY", "ProviderHttp", "is_mutating"]

MAX_SHOWN_BODY = 300  # characters of a provider's error text shown to the cashier
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})

_log = logging.getLogger(__name__)

JsonObject = dict[str, Any]


def is_mutating(method: str) -> bool:
    """Whether a request may change state at the provider (all but GET/HEAD/OPTIONS)."""
    return method.upper() not in _READ_ONLY


class ProviderHttp:
    """Sends one provider's requests and maps every failure to a typed error.

    ``provider`` is the provider id (``"eguma"``, used in hints),
    ``display_name`` the name a cashier reads (``"E-GUMA"``). ``secrets``
    are masked in every provider text this object passes on (keys a
    provider may echo in an error page). ``http`` is shared; its owner
    closes it. Each httpx phase (connect, write, read, pool) gets
    ``timeout_s``; ``deadline_s`` (default ``3 * timeout_s``) bounds the
    whole exchange.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        provider: str,
        display_name: str,
        timeout_s: float,
        deadline_s: float | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.http = http
        self.provider = provider
        self.display_name = display_name
        self.timeout = httpx.Timeout(timeout_s)
        self.deadline_s = 3 * timeout_s if deadline_s is None else deadline_s
        self._secrets = tuple(s for s in secrets if s)
        install_httpx_log_redaction()

    # -- the calls a client makes -------------------------------------------------
    async def json_object(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        mutating: bool | None = None,
        subject: str = "",
    ) -> JsonObject:
        """:meth:`request`, then the answer's JSON object (else a :class:`BadResponse`)."""
        mutating = is_mutating(method) if mutating is None else mutating
        response = await self.request(
            method, url, operation=operation, params=params, headers=headers, json=json,
            content=content, mutating=mutating, subject=subject,
        )
        return self.parse_json_object(response, mutating=mutating, operation=operation)

    async def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        mutating: bool | None = None,
        subject: str = "",
    ) -> httpx.Response:
        """Send once; return a 2xx response or raise the typed error.

        ``params``/``headers`` carry the authentication of this provider;
        ``mutating`` defaults to "not GET/HEAD/OPTIONS" (a provider that
        reads with POST says ``False``). ``subject`` names what the call is
        about in log lines and must already be masked (``mask_code``).
        """
        mutating = is_mutating(method) if mutating is None else mutating
        started = time.monotonic()
        response, failure = await self.send(
            method, url, operation=operation, mutating=mutating, params=params,
            headers=headers, json=json, content=content,
        )
        if failure is not None:
            _log.info("%s %s %s failed: %s", self.display_name, operation, subject,
                      type(failure).__name__)
            raise failure
        assert response is not None
        _log.debug(
            "%s %s %s -> HTTP %d in %.0f ms",
            self.display_name,
            operation,
            subject,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        error = self.status_error(response, mutating=mutating, operation=operation)
        if error is not None:
            raise error
        return response

    async def send(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        mutating: bool,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
    ) -> tuple[httpx.Response | None, ProviderError | None]:
        """Send once. A failure is *returned*, so it is raised outside this
        ``except`` and carries no httpx exception (whose URL may hold a key)."""
        try:
            async with asyncio.timeout(self.deadline_s):
                response = await self.http.request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    json=json,
                    content=content,
                    timeout=self.timeout,
                )
            return response, None
        except TimeoutError as exc:  # our overall deadline, not an httpx phase timeout
            return None, self.transport_error(exc, mutating=mutating, operation=operation)
        except httpx.RequestError as exc:
            return None, self.transport_error(exc, mutating=mutating, operation=operation)
        except Exception as exc:  # noqa: BLE001 - see below
            # Anything else from the HTTP stack (a transport bug, a proxy library)
            # may carry the request, and so a key, in its text: it becomes a
            # typed error that names only its type. A POST may have gone out.
            _log.warning("%s %s: unexpected %s from the HTTP stack", self.display_name,
                         operation, type(exc).__name__)
            kind = UnknownOutcome if mutating else UnavailableError
            return None, kind(
                _("{provider}: the connection failed unexpectedly ({error}).").format(
                    provider=self.display_name, error=type(exc).__name__),
                self.provider,
                operation=operation,
            )

    # -- the one place where failures become typed errors ---------------------------
    def transport_error(
        self, exc: httpx.RequestError | TimeoutError, *, mutating: bool, operation: str
    ) -> ProviderError:
        """No HTTP answer. What matters is whether the request may have arrived."""
        who, provider = self.display_name, self.provider
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return ProviderTimeout(
                _('{provider} could not be reached in time; nothing was sent.').format(provider=who), provider, operation=operation
            )
        if isinstance(exc, (httpx.ConnectError, httpx.ProxyError, httpx.UnsupportedProtocol)):
            return UnavailableError(
                _('{provider} could not be reached; nothing was sent.').format(provider=who), provider, operation=operation
            )
        if isinstance(exc, httpx.DecodingError):
            return bad_response(
                _("{provider} sent an answer that could not be decoded.").format(provider=who),
                provider,
                mutating=mutating,
                operation=operation,
            )
        if mutating:
            return UnknownOutcome(
                _('{provider} did not answer after the request was sent; it is not known whether it was carried out.').format(provider=who),
                provider,
                operation=operation,
            )
        if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
            return ProviderTimeout(_('{provider} did not answer in time.').format(provider=who), provider, operation=operation)
        return UnavailableError(
            _('{provider} closed the connection without an answer.').format(provider=who), provider, operation=operation
        )

    def status_error(
        self, response: httpx.Response, *, mutating: bool, operation: str
    ) -> ProviderError | None:
        """Map an HTTP status to a typed error (None for 2xx).

        :meth:`provider_error` is asked first; then 401/403 are the key,
        408/429/503 "not now" (answered before any work), any other 5xx
        "not now" for a read but an :class:`UnknownOutcome` for a write (a
        500, 502 or 504 may come after the provider committed: reconcile,
        never resend), any other 4xx a refusal with the provider's text, and
        the rest (1xx, 3xx) an unreadable answer.
        """
        status = response.status_code
        if 200 <= status < 300:
            return None
        text = self.body_text(response)
        own = self.provider_error(status, text, mutating=mutating, operation=operation)
        if own is not None:
            return own
        who, provider = self.display_name, self.provider
        if status in (401, 403):
            return AuthenticationError(
                _('{provider} rejected the API key of this outlet (HTTP {status}).').format(provider=who, status=status),
                provider,
                operation=operation,
            )
        retry_later = status in (408, 429, 503)
        if retry_later or (status >= 500 and not mutating):
            return UnavailableError(
                _('{provider} is not available right now (HTTP {status}).').format(provider=who, status=status), provider, operation=operation
            )
        if status >= 500:
            return UnknownOutcome(
                _('{provider} failed (HTTP {status}) after the request was sent; it is not known whether it was carried out.').format(provider=who, status=status),
                provider,
                operation=operation,
            )
        if 400 <= status < 500:
            return RefusedError(
                _('{provider} refused the request (HTTP {status}).').format(provider=who, status=status),
                provider,
                provider_message=text,
                operation=operation,
            )
        return bad_response(
            _("{provider} sent an unexpected answer (HTTP {status}).").format(provider=who, status=status),
            provider,
            mutating=mutating,
            operation=operation,
        )

    def provider_error(
        self, status: int, text: str, *, mutating: bool, operation: str
    ) -> ProviderError | None:
        """The provider's own meaning of an error status, or None for the generic one.

        Override per provider (E-GUMA: 400 "... nicht vorhanden" is
        :class:`NotFoundError`). ``text`` is the body, trimmed and redacted.
        Asked for every non-2xx status: a 5xx mapped to a refusal here
        claims the provider applied nothing — only do that when it is so.
        """
        return None

    def body_text(self, response: httpx.Response) -> str:
        """The error body as text: secrets masked first, then trimmed for display."""
        try:
            text = response.text
        except (UnicodeDecodeError, LookupError):
            text = response.content.decode("utf-8", errors="replace")
        # Masked before trimming, so a cut cannot leave half a key behind.
        return redact(text.strip(), *self._secrets)[:MAX_SHOWN_BODY].strip()

    def parse_json_object(
        self, response: httpx.Response, *, mutating: bool, operation: str
    ) -> JsonObject:
        """The body as a JSON object, every string in it redacted (:func:`redact_json`:
        a provider's message may echo the key, and it is shown, printed and
        journaled); anything else, also a body nested too deep to read, is a
        :class:`BadResponse` (for a write one that is also an :class:`UnknownOutcome`)."""
        data = self._parse(response.content)
        if not isinstance(data, dict):
            raise bad_response(
                _("{provider} sent an unreadable answer (request {operation}: not a JSON object).").format(
                    provider=self.display_name, operation=operation),
                self.provider,
                mutating=mutating,
                operation=operation,
            )
        return data

    def _parse(self, content: bytes) -> Any:
        """The redacted JSON value, or None when it cannot be read. A failure is
        not chained to anything (no ``__context__``): it is raised by the caller."""
        try:
            return redact_json(jsonlib.loads(content), *self._secrets)
        except (ValueError, UnicodeDecodeError, RecursionError, MemoryError):
            return None
