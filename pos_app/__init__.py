"""pos_app: a keyboard-only, voucher-aware point-of-sale till."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pos-app")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"
