"""Orders: placing an order, writing it, issuing its tickets and expiring unpaid holds.

The order and ticket state machines live in :mod:`core_service.orders.states`; a payment's
own transitions are in :mod:`core_service.payments`, which calls the order's when money
arrives.
"""
