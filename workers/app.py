"""The app a worker process runs its jobs in: built once per process, lazily (never at import)."""
from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def get_app() -> Flask:
    global _app
    if _app is None:
        from dsr import create_app

        _app = create_app()
    return _app


def use_app(app: Flask) -> None:
    """`flask dsr worker` already built an app; jobs in this process (and forked horses) reuse it."""
    global _app
    _app = app
