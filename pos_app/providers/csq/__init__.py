"""CSQ eVSB (prepaid vouchers): sell third-party digital vouchers (gift cards, PINs, raffle tickets).

``simulator`` is an ASGI app faithful to ``providers/csq.md``, its salted-hash
auth included. Nothing is imported here, so reading the package never loads
httpx, Starlette or uvicorn.
"""
