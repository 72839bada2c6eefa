"""Tests of core_service.orders."""
