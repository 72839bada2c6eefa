"""After-sales: what happens to a paid order later.

Handing tickets on to companions (distribution), cancellation with the facility's fee
policy, refunds through the payment provider, and receipts (PDF, tax per rate).
"""
