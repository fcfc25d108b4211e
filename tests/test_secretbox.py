from __future__ import annotations

import stat
from pathlib import Path

import pytest

from allsang.errors import SecretKeyError
from allsang.secretbox import SecretBox, ensure_key_file, generate_key, read_keys
from allsang.settings import Settings


def test_it_opens_what_it_sealed_and_never_stores_plaintext() -> None:
    box = SecretBox([generate_key()])
    token = box.seal(b'{"access_token": "abc"}')
    assert b"abc" not in token
    assert box.open(token) == b'{"access_token": "abc"}'


def test_a_wrong_key_is_a_clear_error() -> None:
    token = SecretBox([generate_key()]).seal(b"x")
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([generate_key()]).open(token)


def test_rotation_re_seals_with_the_first_key() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).seal(b"x")
    rotated = SecretBox([new, old]).rotate(token)
    assert SecretBox([new]).open(rotated) == b"x"


def test_the_first_run_creates_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    path = ensure_key_file(settings)
    assert path == tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_keys(settings)) == 1
    assert ensure_key_file(settings) is None  # never overwritten


def test_keys_from_the_environment_win_over_the_key_file(tmp_path: Path) -> None:
    key = generate_key()
    file = tmp_path / "keys"
    file.write_text(f"# newest first\n{generate_key()}\n")
    settings = Settings(data_dir=tmp_path, secret_keys=f" {key} ,", secret_key_file=file)
    assert read_keys(settings) == [key]


def test_no_key_file_is_created_when_keys_are_configured(tmp_path: Path) -> None:
    assert ensure_key_file(Settings(data_dir=tmp_path, secret_keys=generate_key())) is None
    assert not (tmp_path / "secret.key").exists()
