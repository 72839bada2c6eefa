"""Tests of core_service.accounts."""
