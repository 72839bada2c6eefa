"""Tests of core_service.platform."""
