"""Inbox workflow: snooze, saved replies, reply approval."""

from __future__ import annotations
