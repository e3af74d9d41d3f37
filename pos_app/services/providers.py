"""The voucher providers a till talks to, built from ``[providers.*]`` through
each provider's descriptor (``pos_app.providers.registry``).

``sim://<name>`` serves the provider's simulator in-process (demo mode);
any other base URL is the real provider, with the outlet's secrets from the
keyring. A provider that cannot be used (no key, no keyring) is kept with
the reason, so the till works on and tells the cashier why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from pos_app.config import Config
from pos_app.i18n import _
from pos_app.providers import (
    AuthenticationError,
    ClientSpec,
    OpKind,
    ProviderDescriptor,
    ProviderError,
    ProviderSettings,
    UnavailableError,
    UnknownOutcome,
    VoucherProvider,
)
from pos_app.providers import registry
from pos_app.secrets import SecretsError, get_secret, set_key_command

SIM_BASE_URL = "http://{name}.sim"


@dataclass
class ProviderSlot:
    name: str
    display_name: str
    client: VoucherProvider | None
    descriptor: ProviderDescriptor | None = None
    settings: ProviderSettings | None = None
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

    def word(self, kind: OpKind | str) -> str:
        """The cashier's word for an operation of this provider ("redemption")."""
        kind = OpKind(kind)
        return self.descriptor.word(kind) if self.descriptor else kind.value

    def done_word(self, kind: OpKind | str) -> str:
        """The cashier's word for an operation done ("deactivated")."""
        kind = OpKind(kind)
        return self.descriptor.done_word(kind) if self.descriptor else kind.value

    def owns(self, raw: str) -> bool:
        """Is a scanned code one of this provider's (its code pattern)?"""
        return (self.client is not None and self.descriptor is not None and self.settings is not None
                and self.descriptor.owns(self.settings, raw))

    def normalize(self, raw: str) -> str:
        assert self.descriptor is not None
        return self.descriptor.normalize(raw)


def http_client(settings: ProviderSettings, **kwargs: Any) -> httpx.AsyncClient:
    """The one HTTP client of a provider: its connection is kept ``keepalive_s``
    between payments (httpx's default is 5 s: a new connection for every payment)."""
    return httpx.AsyncClient(limits=httpx.Limits(keepalive_expiry=settings.keepalive_s), **kwargs)


def _simulated(config: Config, desc: ProviderDescriptor, settings: ProviderSettings) -> ProviderSlot:
    sim_module = desc.simulator()
    app, sim = sim_module.build_app()
    if config.demo:  # the demo remembers its vouchers across restarts, next to its journal
        sim.persist(config.data_dir() / f"simulator-{desc.name}.json")
    http = http_client(settings, transport=sim_module.in_process_transport(app))
    base_url = SIM_BASE_URL.format(name=desc.name) + getattr(sim_module, "API_ROOT", "")
    spec = ClientSpec(settings.model_copy(update={"base_url": base_url}),
                      sim_module.demo_secrets(sim), http, config.outlet.currency)
    return ProviderSlot(desc.name, desc.display_name, desc.make_client(spec), desc, settings,
                        simulator=sim, http=http)


def _live(config: Config, desc: ProviderDescriptor, settings: ProviderSettings) -> ProviderSlot:
    display = desc.display_name
    secrets: dict[str, str] = {}
    command = set_key_command(config, desc.name, desc.secret_fields[0])
    for secret_field in desc.secret_fields:
        command = set_key_command(config, desc.name, secret_field)
        try:
            value = get_secret(config.outlet.id, desc.name, secret_field,
                               allow_insecure=config.keyring.allow_insecure)
        except SecretsError as exc:
            return ProviderSlot(desc.name, display, None, desc, settings,
                                problem=_("{provider} disabled: {problem}").format(provider=display, problem=exc),
                                key_command=command)
        if not value:
            text = _("{provider} disabled: no API key for outlet {outlet} — run `{command}`") \
                if secret_field == "api_key" else \
                _("{provider} disabled: no {field} for outlet {outlet} — run `{command}`")
            return ProviderSlot(desc.name, display, None, desc, settings, key_command=command,
                                problem=text.format(provider=display, field=secret_field, outlet=config.outlet.id,
                                                    command=command))
        secrets[secret_field] = value
    http = http_client(settings)
    client = desc.make_client(ClientSpec(settings, secrets, http, config.outlet.currency))
    first = set_key_command(config, desc.name, desc.secret_fields[0])  # what a 401 names
    return ProviderSlot(desc.name, display, client, desc, settings, http=http, key_command=first)


def slot_for(config: Config, name: str, client: VoucherProvider, *, simulator: Any = None,
             http: httpx.AsyncClient | None = None) -> ProviderSlot:
    """A slot around a client built elsewhere (tests, tools), with the provider's
    descriptor and the configuration's settings (or the descriptor's defaults)."""
    desc = registry.descriptor(name)
    # Without a section, the provider's defaults (settle_s, timeout_s, code_pattern); a
    # setting it requires (CSQ's terminal_id) belongs to the client built elsewhere.
    settings = config.providers.get(name) or desc.settings_model.model_construct(base_url="http://unused")
    return ProviderSlot(name, desc.display_name, client, desc, settings, simulator=simulator, http=http)


def build_providers(config: Config) -> dict[str, ProviderSlot]:
    slots: dict[str, ProviderSlot] = {}
    for name, settings in config.providers.items():
        if not settings.enabled:
            continue
        desc = registry.descriptor(name)  # config checked the name
        slots[name] = (_simulated if settings.simulated else _live)(config, desc, settings)
    return slots


async def close_providers(slots: dict[str, ProviderSlot]) -> None:
    for slot in slots.values():
        if slot.client is not None:
            await slot.client.aclose()
        if slot.http is not None:
            await slot.http.aclose()


__all__ = ["ProviderSlot", "build_providers", "close_providers", "slot_for"]
