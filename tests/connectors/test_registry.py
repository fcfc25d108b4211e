from __future__ import annotations

import pytest

from allsang.connectors.base import Capability
from allsang.connectors.registry import UnknownNetwork, connector_class, connector_classes


def test_every_built_in_network_is_registered_with_its_capabilities() -> None:
    classes = connector_classes()
    assert set(classes) >= {"mastodon", "bluesky", "rss", "x", "email", "replay"}
    for network, cls in classes.items():
        assert cls.network == network
        assert Capability.LISTEN in cls.capabilities


def test_an_unknown_network_names_the_installed_ones() -> None:
    with pytest.raises(UnknownNetwork, match=r"no connector for 'myspace' \(installed: .*rss"):
        connector_class("myspace")
