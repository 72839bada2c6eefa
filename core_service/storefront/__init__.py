"""Visitor-facing pages: web checkout, ticket pages and My Page (server-rendered HTML)."""
