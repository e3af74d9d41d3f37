"""E-GUMA (Switzerland): redeem vouchers as a payment, sell depot vouchers.

``descriptor.DESCRIPTOR`` is what the rest of the till reads; ``client.EgumaClient``
implements the provider port; ``settling`` decides lost answers; ``simulator``
is an ASGI app faithful to ``providers/eguma.md``. Nothing is imported here, so
reading the descriptor never loads httpx, Starlette or uvicorn.
"""
