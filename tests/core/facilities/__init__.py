"""Tests of core_service.facilities."""
