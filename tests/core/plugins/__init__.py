"""Tests of core_service.plugins."""
