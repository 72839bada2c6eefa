"""ASGI entry point for multi-worker servers: ``uvicorn core_service.asgi:app``."""

from core_service.app import create_app

app = create_app()
