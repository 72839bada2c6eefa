"""Sales: orders, checkout validation, ticket issuance and payment state changes."""
