"""Keyring backends for tests, loadable by name with PYTHON_KEYRING_BACKEND.

``JsonFileKeyring`` keeps secrets in the JSON file named by
``$POS_TEST_KEYRING_FILE``, so a test can run ``pos keys ...`` in a
subprocess and read what it stored. ``PlaintextJsonKeyring`` is the same
under a name the till must treat as a plaintext store; ``HangingKeyring``
never answers until released (a locked Secret Service).

Every priority is -1: keyring registers every backend class it sees and
would otherwise pick one of these by itself in a test process.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import keyring.backend
import keyring.errors

FILE_ENV = "POS_TEST_KEYRING_FILE"


class JsonFileKeyring(keyring.backend.KeyringBackend):
    priority = -1  # type: ignore[assignment]

    @staticmethod
    def path() -> Path:
        return Path(os.environ[FILE_ENV])

    @classmethod
    def load(cls) -> dict[str, str]:
        """Everything stored, by ``"<service> <user>"``."""
        path = cls.path()
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _save(self, data: dict[str, str]) -> None:
        self.path().write_text(json.dumps(data), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self.load().get(f"{service} {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self.load()
        data[f"{service} {username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self.load()
        if data.pop(f"{service} {username}", None) is None:
            raise keyring.errors.PasswordDeleteError(username)
        self._save(data)


class PlaintextJsonKeyring(JsonFileKeyring):
    """Named like keyrings.alt's PlaintextKeyring: refused unless allowed."""

    @property
    def file_path(self) -> str:
        return str(self.path())


class HangingKeyring(keyring.backend.KeyringBackend):
    """Every call blocks until ``release`` is set (at most 30 s)."""

    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls = 0

    def _hang(self) -> None:
        self.calls += 1
        self.release.wait(30)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class BrokenKeyring(keyring.backend.KeyringBackend):
    """Refuses everything with errors that quote what it was given (as some backends do)."""

    priority = -1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked(f"locked: {service} {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"cannot store {password!r} for {username}")

    def delete_password(self, service: str, username: str) -> None:
        raise OSError(13, "Permission denied")
