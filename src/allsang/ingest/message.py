"""The normalised message: the one shape every connector produces (SPEC §4).

```json
{"channel": "mastodon", "external_id": "…", "url": "…",
 "kind": "post|reply|comment|dm|review|article|email",
 "author": {"handle": "…", "name": "…", "url": "…"},
 "text": "…", "created_at": "ISO-8601 with zone", "in_reply_to": "external id or null",
 "lang": optional}
```

Extra fields are allowed and kept (in ``Message.extra``). A few extras have a meaning to the
pipeline: ``addressed`` (true when the message was sent *to* the account — a mention, a
notification — so it opens a conversation), ``direction`` (``outbound`` for the organisation's
own posts seen in a stream), ``references`` (e-mail thread ids, oldest first), ``title``.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Kind = Literal["post", "reply", "comment", "dm", "review", "article", "email"]

MAX_TEXT = 100_000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class Author(BaseModel):
    model_config = ConfigDict(extra="allow")

    handle: str = Field(min_length=1, max_length=320)
    name: str = Field(default="", max_length=320)
    url: str = Field(default="", max_length=2048)

    # An author is untrusted text too: a NUL in a name made PostgreSQL refuse the whole batch.
    @field_validator("handle", "name", "url", mode="before")
    @classmethod
    def _clean_text(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _clean_extras(self) -> Author:
        _clean_extra_fields(self)
        return self


class NormalisedMessage(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    channel: str = Field(min_length=1, max_length=40)
    external_id: str = Field(min_length=1, max_length=512)
    url: str = Field(default="", max_length=4096)
    kind: Kind = "post"
    author: Author
    text: str = Field(default="", max_length=MAX_TEXT)
    created_at: AwareDatetime
    in_reply_to: str | None = Field(default=None, max_length=512)
    lang: str | None = Field(default=None, max_length=8)

    @field_validator("text", "url", "external_id", "in_reply_to", mode="before")
    @classmethod
    def _clean_text(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value

    @field_validator("created_at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        # Day buckets in local time zones overflow near year 1 and year 9999; nothing real is
        # older than the epoch or dated centuries ahead. (Not "now + a margin": what a stored
        # message or a test means must not change as the clock moves.)
        if not EARLIEST <= value < LATEST:
            raise ValueError("created_at must lie between 1970 and 2200")
        return value

    @model_validator(mode="after")
    def _clean_extras(self) -> NormalisedMessage:
        _clean_extra_fields(self)
        return self

    def extras(self) -> dict[str, Any]:
        """The fields beyond the contract, kept verbatim."""
        return dict(self.model_extra or {})

    @property
    def addressed(self) -> bool:
        return bool((self.model_extra or {}).get("addressed")) or self.kind in ("dm", "email")

    @property
    def direction(self) -> str:
        outbound = (self.model_extra or {}).get("direction") == "outbound"
        return "outbound" if outbound else "inbound"


def clean_text(value: str) -> str:
    """Drop what no database or screen should hold: NUL and other C0 controls but tab and
    newline, and lone surrogates (what invalid UTF-8 decoded with surrogateescape becomes)."""
    if value.isprintable():
        return value
    return "".join(
        ch
        for ch in value
        if ch in "\t\n" or not (unicodedata.category(ch) == "Cc" or "\ud800" <= ch <= "\udfff")
    )


def _unclean(value: object) -> bool:
    """Whether :func:`clean_json` would change ``value``."""
    if isinstance(value, str):
        return not value.isprintable() and clean_text(value) != value
    if isinstance(value, dict):
        return any(_unclean(k) or _unclean(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unclean(v) for v in value)
    return False


def clean_json(value: object) -> object:
    """:func:`clean_text` over every string of a JSON value, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_json(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def _clean_extra_fields(model: BaseModel) -> None:
    # Extra fields are kept verbatim, but PostgreSQL's jsonb refuses \u0000 and UTF-8 cannot
    # carry lone surrogates: one such value made the database refuse the whole batch.
    extra = model.__pydantic_extra__
    if extra and _unclean(extra):  # rebuilding and reassigning every time cost ingest a tenth
        model.__pydantic_extra__ = clean_json(extra)  # type: ignore[assignment]


class InvalidMessage(ValueError):
    """A payload that is not a valid normalised message; ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_message(data: Any) -> NormalisedMessage:
    """Validate one normalised message, or raise InvalidMessage with a readable reason."""
    if not isinstance(data, dict):
        raise InvalidMessage(f"expected a JSON object, got {type(data).__name__}")
    try:
        return NormalisedMessage.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise InvalidMessage(problems) from None
