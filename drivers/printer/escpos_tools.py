"""python-escpos, used quietly.

python-escpos prints to stdout (``barcode()``: "Using hardware barcode
renderer"; ``qr()``; ``_dpi()``), which corrupts a terminal UI. Every call
into it from the drivers runs inside :func:`quiet`. The library is imported
only when first used: importing it creates a temporary folder, parses its
printer database and installs a logging handler on stderr.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pos_app.i18n import _

if TYPE_CHECKING:
    from escpos.printer import Dummy

_STDOUT_LOCK = threading.RLock()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what python-escpos prints (one thread at a time: stdout is process-wide)."""
    with _STDOUT_LOCK, contextlib.redirect_stdout(io.StringIO()):
        yield


def dummy(profile: str = "default") -> Dummy:
    """An in-memory ESC/POS printer for ``profile``; ValueError for an unknown profile."""
    from escpos.printer import Dummy

    try:
        return Dummy(profile=profile)
    except KeyError:
        raise ValueError(_("unknown printer profile {profile!r} (see python-escpos's printer profiles; "
                           "\"default\" fits most)").format(profile=profile)) from None


def preload() -> None:
    """Import python-escpos now, so that the first receipt does not wait for it.

    The till's start does not import it (the checkout needs none of it); the
    UI calls this in a background thread once the checkout is drawn. A
    receipt built meanwhile waits for the import to finish (Python's import
    lock), then goes on as usual.
    """
    import escpos.printer  # noqa: F401
