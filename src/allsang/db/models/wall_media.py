"""Wall media: cached images fetched through the server."""

from __future__ import annotations
