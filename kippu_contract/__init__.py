"""What core, kiosk driver, workbench and notebooks share: the wire contract.

It depends only on msgspec, cryptography and pyarrow, so every part can install it.
"""
