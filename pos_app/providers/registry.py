"""The provider packages this till knows: a new provider is one package plus one
line here. Packages are named, not imported: a till imports only the
providers its configuration enables, and the services never import a
provider package (an import-linter contract says so)."""

from __future__ import annotations

import importlib

from pos_app.i18n import _
from pos_app.providers.base import ProviderDescriptor

PACKAGES: dict[str, str] = {
    "eguma": "pos_app.providers.eguma.descriptor",
    "jtl": "pos_app.providers.jtl.descriptor",
    "csq": "pos_app.providers.csq.descriptor",
    "celbux": "pos_app.providers.celbux.descriptor",
}


class UnknownProvider(KeyError):
    def __str__(self) -> str:
        return _("unknown provider {name!r} (known: {known})").format(
            name=self.args[0], known=", ".join(sorted(PACKAGES)))


def names() -> list[str]:
    return sorted(PACKAGES)


def descriptor(name: str) -> ProviderDescriptor:
    try:
        module = PACKAGES[name]
    except KeyError:
        raise UnknownProvider(name) from None
    found: ProviderDescriptor = importlib.import_module(module).DESCRIPTOR
    return found


def descriptors() -> list[ProviderDescriptor]:
    return [descriptor(name) for name in names()]
