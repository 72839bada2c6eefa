"""The platform every domain stands on: settings, database, security, errors, tenancy,
visitor URLs, i18n, guards and the request dependencies.

Nothing here imports a domain or the storefront; domains import from here.
"""
