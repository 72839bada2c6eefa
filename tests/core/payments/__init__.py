"""Tests of core_service.payments."""
