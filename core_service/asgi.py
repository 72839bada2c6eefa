"""ASGI entry point for multi-worker servers: ``uvicorn core_service.asgi:app``."""

from .app import create_app

app = create_app()
