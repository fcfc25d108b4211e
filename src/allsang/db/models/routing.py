"""Routing: rules, business hours, SLA targets."""

from __future__ import annotations
