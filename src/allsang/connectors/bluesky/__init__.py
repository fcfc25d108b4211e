"""Bluesky: Jetstream for the firehose of posts, XRPC (atproto SDK) for notifications, search,
replies and posts. See ``docs/connectors/bluesky.md``."""

from allsang.connectors.bluesky.connector import BlueskyConnector

__all__ = ["BlueskyConnector"]
