"""The SecretBox port: encrypt channel credentials and other secrets at rest.

Contract: ``seal(bytes) -> bytes`` and ``open(bytes) -> bytes``; ``open`` accepts anything
sealed with any configured key and raises :class:`SecretKeyError` otherwise; ``rotate``
re-seals with the primary key. Keys come from the environment or a key file, never from the
database. The Fernet adapter below is the only one today; a KMS or Vault adapter would
implement the same three methods.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from allsang.errors import SecretKeyError
from allsang.settings import Settings

KEY_CHECK_PLAINTEXT = b"allsang key check"


class SecretBox:
    """MultiFernet over a list of keys; the first key encrypts, all of them decrypt."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError(
                "No secret key is configured. Set ALLSANG_SECRET_KEYS or ALLSANG_SECRET_KEY_FILE "
                "(create a key with `allsang keys generate`)."
            )
        fernets = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except ValueError:
                raise SecretKeyError(
                    f"Secret key number {number} is not a valid Fernet key (32 url-safe "
                    "base64-encoded bytes). Create one with `allsang keys generate`."
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with the configured keys. Add the key it "
                "was encrypted with to ALLSANG_SECRET_KEYS (after the new one) and run "
                "`allsang keys rotate`."
            ) from None

    def rotate(self, token: bytes) -> bytes:
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with any configured key, so it cannot be "
                "rotated. Add the old key to ALLSANG_SECRET_KEYS."
            ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()


def read_keys(settings: Settings) -> list[str]:
    """The configured keys, primary first: the environment wins over the key file."""
    if settings.secret_keys.strip():
        return [k for k in (p.strip() for p in settings.secret_keys.split(",")) if k]
    path = settings.secret_key_file
    if path is None:
        path = settings.data_dir / "secret.key"
        if not path.exists():
            return []
    try:
        text = path.read_text()
    except OSError as exc:
        raise SecretKeyError(f"Cannot read the secret key file {path}: {exc.strerror}.") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def ensure_key_file(settings: Settings) -> Path | None:
    """Create ``<data_dir>/secret.key`` when no key is configured at all (first run).

    Returns the path when it was created. The file is readable by its owner only.
    """
    if settings.secret_keys.strip() or settings.secret_key_file is not None:
        return None
    path = settings.data_dir / "secret.key"
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            "# Allsang secret key: back it up beside the database; without it the stored\n"
            "# channel credentials cannot be decrypted. Newest key first.\n"
            f"{generate_key()}\n"
        )
    return path


def secretbox_from_settings(settings: Settings) -> SecretBox:
    return SecretBox(read_keys(settings))
