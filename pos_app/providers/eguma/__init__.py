"""E-GUMA (Switzerland): redeem vouchers as a payment, sell depot vouchers.

``client.EgumaClient`` implements the provider port; ``simulator`` is an
ASGI app faithful to ``providers/eguma.md`` (import it explicitly; it is not
imported here so that using the client never loads Starlette or uvicorn).
"""

from pos_app.providers.eguma.client import DEFAULT_BASE_URL, EgumaClient, redeem_applied

__all__ = ["DEFAULT_BASE_URL", "EgumaClient", "redeem_applied"]
