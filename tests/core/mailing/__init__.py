"""Tests of core_service.mailing."""
