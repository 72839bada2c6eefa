"""Accounts: staff users, roles, bearer-token authentication and guards."""
