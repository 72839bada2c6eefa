"""Tests of core_service.storefront."""
