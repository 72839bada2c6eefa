"""Check-in: gate scans of ticket QR tokens, recorded in an append-only log."""
