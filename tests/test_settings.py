from __future__ import annotations

from pathlib import Path

import pytest

from allsang.errors import ConfigurationError
from allsang.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALLSANG_CONFIG", "ALLSANG_PORT", "ALLSANG_DATABASE_URL", "ALLSANG_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_the_defaults_use_sqlite_in_the_data_directory() -> None:
    settings = load_settings()
    assert settings.port == 8000
    assert settings.is_sqlite
    assert settings.sqlalchemy_url.endswith("allsang-data/allsang.db")


def test_a_toml_file_sets_values_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "allsang.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nbase_url = "https://allsang.example.org"\n')
    monkeypatch.setenv("ALLSANG_CONFIG", str(config))
    monkeypatch.setenv("ALLSANG_PORT", "9100")
    settings = load_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 9100)
    assert settings.secure_cookies


def test_an_unknown_setting_in_the_toml_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "allsang.toml"
    config.write_text("prot = 9000\n")
    monkeypatch.setenv("ALLSANG_CONFIG", str(config))
    with pytest.raises(ConfigurationError, match="prot"):
        load_settings()


def test_postgresql_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLSANG_DATABASE_URL", "postgres://allsang:s3cret@db:5432/allsang")
    settings = load_settings()
    assert settings.sqlalchemy_url == "postgresql+psycopg://allsang:s3cret@db:5432/allsang"
    assert not settings.is_sqlite


def test_a_postgresql_url_without_a_database_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLSANG_DATABASE_URL", "postgresql://db:5432")
    with pytest.raises(ConfigurationError, match="names no database"):
        _ = load_settings().sqlalchemy_url
