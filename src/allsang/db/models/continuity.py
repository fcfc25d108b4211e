"""Continuity: on-duty rota, out-of-office with deputies, bus factor."""

from __future__ import annotations
