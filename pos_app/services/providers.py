"""The voucher providers a till talks to, built from ``[providers.*]``.

``sim://<name>`` serves the provider's simulator in-process (demo mode);
any other base URL is the real provider, with the outlet's key from the
keyring. A provider that cannot be used (no key, no keyring) is kept with
the reason, so the till works on and tells the cashier why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from pos_app.config import Config
from pos_app.providers import (
    AuthenticationError,
    ProviderError,
    UnavailableError,
    UnknownOutcome,
    VoucherProvider,
)
from pos_app.providers.eguma import simulator as eguma_sim
from pos_app.providers.eguma.client import EgumaClient
from pos_app.secrets import FIELDS, SecretsError, get_secret, set_key_command

DISPLAY_NAMES = {"eguma": "E-GUMA", "jtl": "JTL", "csq": "CSQ", "celbux": "Celbux"}
SIM_BASE_URL = "http://{name}.sim"


@dataclass
class ProviderSlot:
    name: str
    display_name: str
    client: VoucherProvider | None
    problem: str | None = None  # why the provider cannot be used
    simulator: Any = None  # the in-process simulator (demo), for the status screen and tests
    healthy: bool | None = None  # None: not asked yet
    last_error: str | None = None
    key_command: str | None = None  # the `pos --config ... keys set ...` that sets this provider's key
    http: httpx.AsyncClient | None = field(default=None, repr=False)

    def mark(self, error: ProviderError | None) -> None:
        """Record the health seen in the last call (a refusal is a healthy answer)."""
        if error is None or not isinstance(error, (AuthenticationError, UnavailableError, UnknownOutcome)):
            self.healthy, self.last_error = True, None
        else:
            self.healthy, self.last_error = False, error.message


def _eguma(config: Config, name: str) -> ProviderSlot:
    settings = config.providers[name]
    display = DISPLAY_NAMES[name]
    currency = config.outlet.currency
    if settings.simulated:
        app, sim = eguma_sim.build_app()
        key = next(iter(sim.state.outlets))  # the demo outlet's key, from the demo data
        http = httpx.AsyncClient(transport=eguma_sim.in_process_transport(app))
        client = EgumaClient(http, key, SIM_BASE_URL.format(name=name), currency, settings.timeout_s)
        return ProviderSlot(name, display, client, simulator=sim, http=http)
    command = set_key_command(config, name, "api_key")
    try:
        key = get_secret(config.outlet.id, name, "api_key", allow_insecure=config.keyring.allow_insecure)
    except SecretsError as exc:
        return ProviderSlot(name, display, None, problem=f"{display} disabled: {exc}", key_command=command)
    if not key:
        return ProviderSlot(name, display, None, key_command=command,
                            problem=f"{display} disabled: no API key for outlet {config.outlet.id} — run `{command}`")
    http = httpx.AsyncClient()
    client = EgumaClient(http, key, settings.base_url, currency, settings.timeout_s)
    return ProviderSlot(name, display, client, http=http, key_command=command)


BUILDERS = {"eguma": _eguma}


def build_providers(config: Config) -> dict[str, ProviderSlot]:
    slots: dict[str, ProviderSlot] = {}
    for name, settings in config.providers.items():
        display = DISPLAY_NAMES.get(name, name)
        if not settings.enabled:
            continue
        builder = BUILDERS.get(name)
        if builder is None:
            known = ", ".join(sorted(BUILDERS))
            slots[name] = ProviderSlot(name, display, None,
                                       problem=f"{display}: not supported in this version (supported: {known})")
            continue
        slots[name] = builder(config, name)
    return slots


async def close_providers(slots: dict[str, ProviderSlot]) -> None:
    for slot in slots.values():
        if slot.client is not None:
            await slot.client.aclose()
        if slot.http is not None:
            await slot.http.aclose()


__all__ = ["FIELDS", "ProviderSlot", "build_providers", "close_providers"]
