"""A Python client for Quiver's REST API (docs/API.md).

Standard library only; vectors travel as MessagePack `bin` float32 when the
`msgpack` package is importable (and `use_msgpack` is not False), as JSON
otherwise. A client keeps one keep-alive connection and is not thread-safe:
give each thread its own.
"""
from .client import Hit, Quiver, QuiverError

__all__ = ["Hit", "Quiver", "QuiverError"]
__version__ = "0.1.0"
