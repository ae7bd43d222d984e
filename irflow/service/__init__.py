"""The shared service: an HTTP API (FastAPI) over the engine, for the three tiers at once.

A face over the engine, as the command line is: every request acts as the
organisation of its token's account, never as the administrator.
"""
