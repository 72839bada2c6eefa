"""Payments: the provider interface, the provider registry and payment state changes."""
