"""Tests of core_service.checkin."""
