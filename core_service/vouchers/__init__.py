"""Vouchers: discount codes managers hand out, applied when an order is placed.

- :mod:`.discounts`: the arithmetic (which lines, how many yen off each);
- :mod:`.uses`: finding a usable code and counting its uses atomically;
- :mod:`.service` and :mod:`.controllers`: the managers' ``/api/v1/vouchers``.
"""
