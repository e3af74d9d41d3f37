"""Celbux (South Africa): redeem ``168-NNNNN-NNNNN`` wallet vouchers, issue vouchers to a phone by SMS.

``simulator`` is an ASGI app faithful to ``providers/celbux.md``. Nothing is
imported here, so reading the package never loads httpx, Starlette or uvicorn.
"""
