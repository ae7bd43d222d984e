"""The ``irflow`` command line (typer). Heavy imports happen inside commands."""
