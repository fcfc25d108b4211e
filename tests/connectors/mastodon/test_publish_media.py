"""Publishing with media against the answers a real Mastodon server recorded (Mastodon.py's
``test_media_post_multiple`` cassette): two uploads, then a status naming both."""

from __future__ import annotations

from pathlib import Path

from pytest_httpserver import HTTPServer

from allsang.connectors.base import MediaFile
from tests.connectors.conftest import serve_cassette
from tests.connectors.mastodon.conftest import connector_for

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_publish_uploads_each_file_with_its_description_and_attaches_them_in_order(
    httpserver: HTTPServer, payloads: Path, tmp_path: Path
) -> None:
    serve_cassette(
        httpserver,
        payloads / "mastodon-py/test_media_post_multiple.yaml",
        only=lambda i: i.method == "POST",
    )
    walk, detective = tmp_path / "walk.jpg", tmp_path / "detective.png"
    walk.write_bytes(JPEG)
    detective.write_bytes(PNG)
    files = [
        MediaFile(walk, "image/jpeg", "John Lennon doing a funny walk", "image", len(JPEG)),
        MediaFile(detective, "image/png", "A detective", "image", len(PNG)),
    ]
    sent = await connector_for(httpserver).publish(
        "LOL check this out", idempotency_key="plan-7", media=files
    )
    uploads = [r for r, _ in httpserver.log if r.path == "/api/v2/media"]
    assert [r.form["description"] for r in uploads] == [f.alt_text for f in files]
    assert [r.files["file"].mimetype for r in uploads] == ["image/jpeg", "image/png"]
    assert [r.files["file"].read() for r in uploads] == [JPEG, PNG]
    [status] = [r for r, _ in httpserver.log if r.path == "/api/v1/statuses"]
    # The ids the recorded server gave the two uploads, in upload order.
    assert status.form.getlist("media_ids[]") == ["117020576646493592", "117020576661238952"]
    assert status.headers["Idempotency-Key"] == "plan-7"
    assert sent.external_id == "117020576664345360"
