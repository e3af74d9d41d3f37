"""JTL Voucher Cloud (Germany): reserve and charge vouchers, refund, recharge, activate.

``simulator`` is an ASGI app faithful to ``providers/jtl.md``, its OAuth server
included. Nothing is imported here, so reading the package never loads httpx,
Starlette or uvicorn.
"""
