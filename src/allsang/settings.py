"""Settings: ``ALLSANG_*`` environment variables, then an optional TOML file, then defaults.

Every field here must be documented in ``docs/configuration.md``; ``tests/test_docs.py``
fails otherwise. The TOML file is named by ``ALLSANG_CONFIG`` (or ``--config`` on the CLI)
and uses the field names without the prefix, e.g. ``database_url = "postgresql://…"``.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from allsang.errors import ConfigurationError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALLSANG_", extra="forbid")

    data_dir: Path = Field(
        default=Path("allsang-data"),
        description="Folder for the SQLite database, the generated key file and uploads.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the database. Empty means SQLite in the data directory. "
        "PostgreSQL: postgresql://user@host:5432/dbname (psycopg 3 is used).",
    )
    secret_keys: str = Field(
        default="",
        description="Comma-separated Fernet keys; the first encrypts, all decrypt. "
        "Generate one with `allsang keys generate`.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="File with one Fernet key per line (first encrypts). When neither this nor "
        "secret_keys is set, `allsang serve` creates <data_dir>/secret.key (mode 600).",
    )
    host: str = Field(default="127.0.0.1", description="Address the web server listens on.")
    port: int = Field(default=8000, description="Port the web server listens on.")
    base_url: str = Field(
        default="",
        description="Public URL, e.g. https://allsang.example.org. An https URL turns on "
        "Secure cookies and HSTS; it is also the allowed Origin for CSRF checks.",
    )
    session_days: int = Field(default=14, description="Days a login session stays valid.")
    login_attempts_per_minute: int = Field(
        default=5,
        description="Failed logins allowed per e-mail address and per client address a minute.",
    )
    default_locale: Literal["en", "sv", "nb", "da"] = Field(
        default="en", description="Interface language for people who have not chosen one."
    )
    timezone: str = Field(
        default="Europe/Stockholm", description="Time zone of new workspaces and people."
    )
    job_lease_seconds: int = Field(
        default=60,
        description="How long a worker holds a claimed job before another may take it over.",
    )
    worker_concurrency: int = Field(
        default=4, description="Jobs one worker process runs at the same time."
    )
    worker_poll_seconds: float = Field(
        default=1.0, description="How often an idle worker looks for due jobs."
    )
    publishing_stall_minutes: int = Field(
        default=10,
        ge=1,
        description="Minutes a scheduled post may be overdue before the dead-man alarm fires.",
    )
    stream_url: str = Field(
        default="",
        description="The ingest stream between connectors and the pipeline. Empty: in-process "
        "queue. nats://host:4222 : NATS JetStream (for separate `allsang ingest` processes).",
    )
    ingest_queue_batches: int = Field(
        default=16,
        description="Unacknowledged batches the in-process stream holds before connectors wait.",
    )
    ingest_rescan_seconds: float = Field(
        default=15.0,
        description="How often the ingest coordinator looks for channels added, changed, "
        "paused or removed.",
    )
    broadcast_url: str = Field(
        default="",
        description="Live-update hints between processes. Empty: in-process (one `allsang "
        "serve`). postgresql://… : LISTEN/NOTIFY; redis://… : Redis pub/sub; nats://… : NATS "
        "subjects — for separate web, worker and ingest processes.",
    )
    metrics_token: str = Field(
        default="",
        description="If set, GET /metrics needs `Authorization: Bearer <token>`.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of all processes."
    )
    shared_dir: Path | None = Field(
        default=None,
        description="The licensed data sets and recorded payloads (`shared/`); used by the "
        "model-training scripts and by the tests that replay real payloads.",
    )
    fetch_allow_private_networks: bool = Field(
        default=False,
        description="Let server-side fetches (wall images, link previews) reach private and "
        "loopback addresses, for intranet installs; link-local stays refused.",
    )
    smtp_host: str = Field(
        default="", description="SMTP server for the app's own e-mail (analytics reports)."
    )
    smtp_port: int = Field(default=587, description="Port of the SMTP server.")
    smtp_username: str = Field(default="", description="SMTP login; empty: no login.")
    smtp_password: str = Field(default="", description="SMTP password.")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (port 587), tls (implicit, 465) or none."
    )
    smtp_from: str = Field(
        default="", description="Sender address of the app's e-mail, e.g. allsang@example.org."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("ALLSANG_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError("port must be between 1 and 65535")
        return value

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL derived from ``database_url`` or the data directory."""
        from allsang.db.urls import async_url

        if not self.database_url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'allsang.db').resolve()}"
        return async_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable line."""
    from pydantic import ValidationError

    config = os.environ.get("ALLSANG_CONFIG")
    if config and not Path(config).is_file():
        raise ConfigurationError(f"ALLSANG_CONFIG names {config}, which is not a file.")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"Invalid settings: {problems}") from None
