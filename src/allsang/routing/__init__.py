"""Routing: rules that send conversations to departments and people, business hours,
round-robin assignment and SLA targets (see docs/routing.md)."""
