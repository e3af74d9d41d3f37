"""Pure business rules: money, orders, VAT, codes. No I/O, no Textual."""
