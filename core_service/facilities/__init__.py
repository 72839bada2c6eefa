"""Facility settings API: plugins and their options, payment methods, self-cancellation."""
