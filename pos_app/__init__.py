"""pos_app: a keyboard-only, voucher-aware point-of-sale till."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed package only when asked (``pos --version``):
    importlib.metadata costs the till's start about 30 ms."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("pos-app")
    except PackageNotFoundError:  # running from a source tree without install
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value
