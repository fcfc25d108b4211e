"""Helpers shared by the CLI commands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from allsang.settings import Settings, load_settings

T = TypeVar("T")


def settings_with(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with the CLI's own options on top."""
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)
