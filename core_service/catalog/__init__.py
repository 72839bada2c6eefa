"""Catalog: products, price categories and availability of dates."""
