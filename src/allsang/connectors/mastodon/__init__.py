"""Mastodon: mentions, direct messages, hashtags, keyword search and the user stream;
replies, direct messages and posts. See ``docs/connectors/mastodon.md``."""

from allsang.connectors.mastodon.connector import MastodonConnector

__all__ = ["MastodonConnector"]
