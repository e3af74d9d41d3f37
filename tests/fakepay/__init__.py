"""FakePay: a second, deliberately different voucher provider, for tests only.

JTL-like where E-GUMA is not: two secret headers, decimal-string amounts,
a hold at authorize and a charge (with the order number) at capture, one hold
per voucher, and a lookup by our reference that decides a lost answer at
once. ``descriptor``, ``client``, ``settling`` and ``simulator`` follow the
shape of ``pos_app/providers/eguma``; ``fixtures.fakepay`` registers it for a
test. Nothing is imported here.
"""
