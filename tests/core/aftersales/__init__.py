"""Tests of core_service.aftersales."""
