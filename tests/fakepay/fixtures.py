"""Register FakePay for one test: ``registry.PACKAGES`` names it while the test runs.

``pos_app.secrets.FIELDS`` reads the registry when asked (it is not a dict
computed at import), so ``pos keys`` sees FakePay's two fields without a patch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pos_app.providers import registry
from pos_app.providers.base import ProviderDescriptor

MODULE = "tests.fakepay.descriptor"


@pytest.fixture
def fakepay(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderDescriptor]:
    """FakePay in the registry for this test; its descriptor."""
    monkeypatch.setitem(registry.PACKAGES, "fakepay", MODULE)
    yield registry.descriptor("fakepay")
