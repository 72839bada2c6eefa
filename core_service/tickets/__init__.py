"""Tickets: QR token signing and verification."""
