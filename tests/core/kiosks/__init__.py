"""Tests of core_service.kiosks."""
