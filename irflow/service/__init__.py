"""The shared service: an HTTP API (FastAPI) over the engine, for the three tiers at once.

A face over the engine, as the command line is: every request acts as the
organisation of its token's account, never as the administrator.
``create_app(engine)`` returns the ASGI application, to mount in one's own.
"""

from irflow.service.app import create_app

__all__ = ["create_app"]
