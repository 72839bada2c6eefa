"""The demo park "Kippu Adventure Park", seeded by ``kippu demo`` and by the tests."""
