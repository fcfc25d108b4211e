"""The replay connector: JSON Lines files of normalised messages (demo and benchmarks)."""

from allsang.connectors.replay.connector import ReplayConnector

__all__ = ["ReplayConnector"]
