"""Connecting a till to JTL-Voucher Cloud: the Admin UI's pin for its credentials.

The JTL Admin UI shows a connection pin, valid 30 minutes and good once.
``POST {base_url}/clients/connect {"pin": ...}`` (no authentication) answers
with the client object; its ``id`` and ``secret`` are the till's
``client_id`` and ``client_secret`` (``providers/jtl.md``, "Getting
credentials"). ``pos providers connect jtl --pin PIN`` stores them in the
keyring.

What can go wrong, and what the shop owner reads:

* a pin that is not 4 to 12 digits: :class:`PinFormatError`, nothing sent;
* a wrong, used or expired pin (422): :class:`PinRefused` — make a new one;
* JTL not reached, or not available (503, 429): :class:`UnavailableError` /
  :class:`ProviderTimeout` — the pin was not used, try again with it;
* no answer after the pin was sent (a read timeout, 500/502/504, an
  unreadable answer): :class:`PinMaybeUsed` — the pin may be used up: try it
  once more, and make a new one if JTL then refuses it.

The secret is never in a message, a log line or an exception: the answer is
read here and handed back, nothing else keeps it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pos_app.i18n import N_, _
from pos_app.providers.base import (
    ProviderError,
    ProviderTimeout,
    RefusedError,
    UnavailableError,
    UnknownOutcome,
)
from pos_app.providers.http import ProviderHttp

__all__ = ["PinFormatError", "PinMaybeUsed", "PinRefused", "connect_with_pin", "normalize_pin"]

PROVIDER = "jtl"
DISPLAY_NAME = "JTL"
OPERATION = "connect"
PIN_DIGITS = (4, 12)
_PIN = re.compile(r"[0-9]{%d,%d}" % PIN_DIGITS)
_SEPARATORS = re.compile(r"[\s-]+")  # "123 456" or "123-456", as a pin may be read out


class PinFormatError(ValueError):
    """The pin is not a JTL pin (digits only); nothing was sent."""


class PinRefused(RefusedError):
    """JTL refused the pin (422): wrong, already used, or older than 30 minutes."""

    default_hint = N_("Then run the same command with the new pin.")


class PinMaybeUsed(UnknownOutcome):
    """The pin was sent and no usable answer came back: JTL may have used it up."""

    default_hint = N_("Run the same command again with the same pin; if JTL then says the pin is wrong or "
                      "used, create a new pin in the JTL Admin UI.")


_NOT_USED_HINT = N_("The pin was not used: check the network and [providers.jtl] base_url, then run the "
                    "command again with the same pin (it is valid for 30 minutes).")


def normalize_pin(raw: str) -> str:
    """The pin as JTL wants it: digits only (spaces and dashes between them dropped);
    :class:`PinFormatError` for anything else. The pin itself is never quoted."""
    pin = _SEPARATORS.sub("", raw or "")
    if not _PIN.fullmatch(pin):
        low, high = PIN_DIGITS
        raise PinFormatError(_("a JTL pin has {low} to {high} digits and nothing else, as the JTL Admin UI "
                               "shows it; this is not one, nothing was sent").format(low=low, high=high))
    return pin


class _ConnectHttp(ProviderHttp):
    """The shared HTTP rules plus what the connect endpoint's statuses mean."""

    def __init__(self, http: Any, base_url: str, timeout_s: float) -> None:
        super().__init__(http, provider=PROVIDER, display_name=DISPLAY_NAME, timeout_s=timeout_s)
        self.base_url = base_url

    def provider_error(self, status: int, text: str, *, mutating: bool, operation: str) -> ProviderError | None:
        if status == 422:
            return PinRefused(
                _("The pin is wrong, already used or expired (a pin is valid for 30 minutes): create a new one "
                  "in the JTL Admin UI."),
                PROVIDER, provider_message=_provider_words(text), operation=operation)
        if status in (401, 403, 404, 405):
            # No authentication is asked for here: these say the address is not JTL's connect endpoint.
            return RefusedError(
                _("JTL at {url} does not take a pin there (HTTP {status}): check [providers.jtl] base_url, "
                  "which ends in /v1. The pin was not used.").format(url=self.base_url, status=status),
                PROVIDER, provider_message=_provider_words(text), operation=operation,
                hint=_("Correct base_url, then run the command again with the same pin."))
        return None


def _provider_words(text: str) -> str:
    """JTL's own words from an error body (already redacted and trimmed): the first
    error's message, else the message, else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if not isinstance(body, dict):
        return text
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and isinstance(
            errors[0].get("message"), str):
        return str(errors[0]["message"])
    message = body.get("message")
    return message if isinstance(message, str) else text


def _credential(value: Any) -> str | None:
    """A usable id or secret: a non-empty string without spaces or control characters."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    return value


async def connect_with_pin(http: Any, base_url: str, pin: str, *, timeout_s: float = 10.0) -> dict[str, str]:
    """Exchange an Admin UI pin for ``{"client_id": ..., "client_secret": ...}``.

    ``http`` is an ``httpx.AsyncClient`` (its owner closes it); ``base_url``
    includes ``/v1``. Raises :class:`PinFormatError` before sending anything,
    else a :class:`ProviderError`: :class:`PinRefused`,
    :class:`UnavailableError`/:class:`ProviderTimeout` (pin not used),
    :class:`PinMaybeUsed` (pin maybe used), :class:`RefusedError` (not the
    connect endpoint). No error or log line holds the secret.
    """
    pin = normalize_pin(pin)
    sender = _ConnectHttp(http, base_url, timeout_s)
    url = base_url.rstrip("/") + "/clients/connect"
    failure: ProviderError | None = None
    response = None
    try:
        response = await sender.request("POST", url, operation=OPERATION, json={"pin": pin},
                                        headers={"Accept": "application/json"})
    except (PinRefused, RefusedError):
        raise
    except UnknownOutcome as exc:  # sent, then no answer, a 5xx that may come after the work, or unreadable
        failure = PinMaybeUsed(
            _("JTL did not answer after the pin was sent ({problem}), so the pin may have been used and no "
              "credentials were received.").format(problem=exc.message),
            PROVIDER, operation=OPERATION)
    except ProviderTimeout as exc:
        failure = ProviderTimeout(exc.message, PROVIDER, operation=OPERATION, hint=_(_NOT_USED_HINT))
    except UnavailableError as exc:
        failure = UnavailableError(exc.message, PROVIDER, operation=OPERATION, hint=_(_NOT_USED_HINT))
    if failure is not None:
        raise failure  # outside the except block: no chained context
    assert response is not None

    client_id = client_secret = None
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    if isinstance(body, dict):
        client_id, client_secret = _credential(body.get("id")), _credential(body.get("secret"))
    del body, response  # the answer holds the secret: nothing here keeps it
    if client_id is None or client_secret is None:
        raise PinMaybeUsed(
            _("JTL took the pin but its answer has no usable client id and secret, so the pin is probably "
              "used up."), PROVIDER, operation=OPERATION,
            hint=_("Create a new pin in the JTL Admin UI and run the command again; if this happens again, "
                   "call support."))
    return {"client_id": client_id, "client_secret": client_secret}
