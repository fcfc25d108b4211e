"""RSS and Atom feeds (blogs, news sites, press rooms) over conditional GET.
See ``docs/connectors/rss.md``."""

from allsang.connectors.rss.connector import RssConnector

__all__ = ["RssConnector"]
