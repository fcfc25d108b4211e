"""Analytics: incremental aggregates."""

from __future__ import annotations
