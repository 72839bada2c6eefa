"""Tests of core_service.catalog."""
