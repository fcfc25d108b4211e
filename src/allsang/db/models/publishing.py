"""Publishing: posts, per-network variants, approvals, publish attempts."""

from __future__ import annotations
