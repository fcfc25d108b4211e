"""The documentation keeps up with the code (Datasette's docs tests are the model)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from allsang.cli import cli
from allsang.settings import Settings

DOCS = Path(__file__).parent.parent / "docs"
README = Path(__file__).parent.parent / "README.md"


def _documented_defaults() -> dict[str, str]:
    rows = {}
    for line in (DOCS / "configuration.md").read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| `ALLSANG_(\w+)` \| (.+?) \|", line)
        if match:
            assert match.group(1).upper() == match.group(2), line
            rows[match.group(1)] = match.group(3)
    return rows


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    rows = _documented_defaults()
    assert name in rows, f"docs/configuration.md does not document {name}"
    default = Settings.model_fields[name].default
    expected = {"": "*(empty)*", "None": "*(none)*"}.get(str(default), f"`{default}`")
    assert rows[name] == expected


def test_the_docs_document_no_setting_that_does_not_exist() -> None:
    assert set(_documented_defaults()) <= set(Settings.model_fields)


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
    return names


@pytest.mark.parametrize("command", _commands(cli))
def test_every_cli_command_is_documented(command: str) -> None:
    text = (DOCS / "cli.md").read_text()
    assert f"allsang {command}" in text, f"docs/cli.md does not mention `allsang {command}`"


def test_the_readme_gives_the_two_commands() -> None:
    text = README.read_text()
    assert "allsang serve --demo" in text
    assert "scripts/test" in text
