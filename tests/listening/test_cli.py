"""``allsang analyze`` as a click command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from allsang.listening.cli import analyze


def run(stdin: bytes, *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(analyze, list(args), input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines, result.stderr


def test_adds_fields_in_order(tmp_path: Path) -> None:
    queries = tmp_path / "q.tsv"
    queries.write_text("volvo\tvolvo\nnot-volvo\tNOT volvo\n", "utf-8")
    stdin = "\n".join(
        json.dumps({"text": t, "keep": i}) for i, t in enumerate(["Min Volvo är bäst!", "hej"])
    )
    code, out, _ = run(stdin.encode(), "--queries", str(queries))
    assert code == 0
    assert [o["keep"] for o in out] == [0, 1]
    assert out[0]["matches"] == ["volvo"] and out[1]["matches"] == ["not-volvo"]
    for obj in out:
        assert obj["sentiment"] in ("pos", "neu", "neg")
        assert -1 <= obj["sentiment_score"] <= 1
        assert 0 <= obj["lang_confidence"] <= 1
    assert out[0]["lang"] == "sv"


def test_bad_lines_are_reported_and_the_rest_analysed() -> None:
    stdin = b'not json\n{"no_text": 1}\n\xff\xfe garbage\n{"text": "fine"}\n[1]\n'
    code, out, err = run(stdin)
    assert code != 0
    assert [o.get("line") for o in out] == [1, 2, 3, None, 5]
    assert "error" in out[0] and "sentiment" in out[3]
    assert "line 1:" in err and "line 2:" in err and "line 5:" in err


def test_invalid_query_stops_before_reading_input(tmp_path: Path) -> None:
    queries = tmp_path / "q.tsv"
    queries.write_text("ok\tvolvo\n\nbad\tvolvo AND saab NEAR/ bil\n", "utf-8")
    result = CliRunner().invoke(analyze, ["--queries", str(queries)], input=b'{"text": "x"}\n')
    assert result.exit_code != 0
    assert result.stdout == ""
    assert f"{queries}:3:" in result.stderr and "NEAR/ needs a number" in result.stderr


def test_awkward_text_does_not_crash() -> None:
    texts = ["\x00\x01\x1b[31m", "\udcff", "🔥" * 250_000]
    stdin = "\n".join(json.dumps({"text": t}) for t in texts).encode()
    code, out, _ = run(stdin)
    assert code == 0
    assert len(out) == 3
