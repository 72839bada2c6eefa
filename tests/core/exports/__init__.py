"""Tests of core_service.exports."""
