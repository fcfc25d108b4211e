"""Find connector classes through the ``allsang.connectors`` entry-point group.

A package adds a network by declaring, in its ``pyproject.toml``::

    [project.entry-points."allsang.connectors"]
    mynetwork = "my_package.connector:MyNetworkConnector"

The entry point's name is the network's name: :func:`connector_class` imports only the
connector it is asked for, since some SDKs take seconds to import.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from allsang.connectors.base import Connector

GROUP = "allsang.connectors"

log = logging.getLogger(__name__)


class UnknownNetwork(LookupError):
    pass


@cache
def connector_classes() -> dict[str, type[Connector]]:
    """Every installed connector class by network name (loaded once per process)."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=GROUP):
        try:
            cls = entry.load()
        except Exception:
            # One broken or half-installed plug-in must not stop every other network.
            log.exception("cannot load connector %s (%s)", entry.name, entry.value)
            continue
        found[cls.network] = cls
    return found


@cache
def connector_class(network: str) -> type[Connector]:
    """The connector class for one network, loading that connector alone."""
    for entry in entry_points(group=GROUP, name=network):
        cls = entry.load()
        if cls.network == network:
            return cls
    known = ", ".join(sorted(e.name for e in entry_points(group=GROUP))) or "none"
    raise UnknownNetwork(f"no connector for {network!r} (installed: {known})")
