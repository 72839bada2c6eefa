"""Tests of core_service.reports."""
