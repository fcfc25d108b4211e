import pytest

from allsang.connectors import limits

LONG_URL = "https://example.com/" + "a" * 200


def test_mastodon_counts_any_url_as_23_characters():
    text = "Läs mer: " + LONG_URL
    assert limits.measure("mastodon", text).length == len("Läs mer: ") + 23


def test_mastodon_counts_a_bare_domain_as_written():
    assert limits.measure("mastodon", "se example.com").length == len("se example.com")


def test_mastodon_counts_only_the_local_part_of_a_remote_mention():
    assert limits.measure("mastodon", "@anna@social.example hej").length == len("@anna hej")


def test_mastodon_counts_an_emoji_family_as_one_character():
    assert limits.measure("mastodon", "👩‍👩‍👧").length == 1


def test_mastodon_allows_500_and_refuses_501():
    assert not limits.measure("mastodon", "a" * 500).over
    with pytest.raises(limits.TooLong) as info:
        limits.check("mastodon", "a" * 501)
    assert (info.value.length, info.value.limit) == (501, 500)


def test_an_instance_limit_in_the_channel_config_replaces_500():
    assert limits.measure("mastodon", "a" * 600, config={"max_characters": 1000}).limit == 1000
    assert limits.measure("mastodon", "a", config={"max_characters": "lots"}).limit == 500


def test_bluesky_counts_graphemes_and_links_in_full():
    assert limits.measure("bluesky", "e\u0301" * 300).length == 300
    assert limits.measure("bluesky", LONG_URL).length == len(LONG_URL)
    assert limits.measure("bluesky", "a" * 301).over


def test_x_weighs_cjk_double_and_urls_as_23():
    assert limits.measure("x", "例" * 140).length == 280
    assert limits.measure("x", "例" * 141).over
    assert limits.measure("x", LONG_URL).length == 23
    assert limits.measure("twitter", "å" * 280).length == 280


def test_private_messages_may_be_longer_where_the_network_allows_it():
    assert limits.measure("x", "a" * 5000, kind="direct").limit == 10_000
    assert limits.measure("bluesky", "a" * 500, kind="direct").limit == 1000
    assert not limits.measure("bluesky", "a" * 500, kind="direct").over


def test_email_and_unknown_networks_have_no_limit():
    for network in ("email", "webhook", None, "gopher"):
        m = limits.measure(network, "a" * 100_000)
        assert m.limit is None and m.remaining is None and not m.over
        assert limits.rule_for(network) is None
        assert limits.browser_rule(network) is None


def test_remaining_goes_negative_when_over():
    assert limits.measure("bluesky", "a" * 310).remaining == -10


def test_the_browser_rule_names_the_counting_and_the_url_length():
    assert limits.browser_rule("mastodon") == {
        "limit": 500,
        "counting": "mastodon",
        "url-length": 23,
    }
