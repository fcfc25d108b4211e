"""X (Twitter) API v2 through tweepy: mentions, recent search, reply, publish.
See ``docs/connectors/x.md``."""

from allsang.connectors.x.connector import XConnector

__all__ = ["XConnector"]
