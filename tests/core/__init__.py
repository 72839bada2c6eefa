"""Tests of core_service, one folder per package of the core (docs/architecture.md)."""
