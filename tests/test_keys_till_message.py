"""The till's own key messages name the configuration (for services/providers.py)."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from pos_app.config import load_config
from pos_app.providers.eguma import simulator
from pos_app.services.checkout import CheckoutError
from pos_app.services.providers import build_providers
from pos_app.services.setup import open_till
from tests.conftest import MemoryKeyring


def test_a_missing_key_names_the_command_with_the_configuration(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
) -> None:
    path = write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:1"\n', name="shop 2.toml")
    slot = build_providers(load_config(path))["eguma"]
    assert slot.problem is not None
    command = slot.problem.split("run `", 1)[1].rstrip("`")
    assert shlex.split(command) == ["pos", "--config", str(path), "keys", "set", "--provider", "eguma",
                                    "--field", "api_key"]


def test_a_rejected_key_names_the_command_with_the_configuration(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
) -> None:
    data = simulator.load_data()
    data.outlets = {"the-right-key-0000": "Test"}
    app, _ = simulator.build_app(data=data)
    memory_keyring.set_password("pos-app", "test-outlet/eguma/api_key", "a-wrong-key-1111")
    with simulator.ServerThread(app) as server:
        path = write_config(f'[providers.eguma]\nbase_url = "{server.url}"\ntimeout_s = 2\n')
        till = open_till(load_config(path))
        try:
            with pytest.raises(CheckoutError) as caught:
                asyncio.run(till.vouchers.check("L4FU-5LQT-KJR3"))
        finally:
            till.journal.close()
    assert f"Check the API key with `pos --config {path} keys set --provider eguma --field api_key`" in str(caught.value)
