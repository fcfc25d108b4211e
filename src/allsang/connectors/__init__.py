"""Connectors: one folder per network, found through the ``allsang.connectors`` entry points."""

from allsang.connectors.base import (
    AuthExpired,
    Batch,
    Capability,
    ChannelContext,
    Connector,
    ConnectorError,
    PermanentError,
    RateLimited,
    RawItem,
    Sent,
    TransientError,
)

__all__ = [
    "AuthExpired",
    "Batch",
    "Capability",
    "ChannelContext",
    "Connector",
    "ConnectorError",
    "PermanentError",
    "RateLimited",
    "RawItem",
    "Sent",
    "TransientError",
]
