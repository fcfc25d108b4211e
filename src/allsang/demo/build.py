"""Assemble ``messages.jsonl`` from the hand-written sources in ``source/*.txt``.

Every text in the sample was written by hand, message by message; this script only adds the
plumbing a real stream would carry: ids in each network's own shape, URLs, author profiles,
time stamps (replies after their parents, in the writer's own time zone), threading fields and
mentions at the start of Mastodon replies. It is deterministic: the same sources always give the
same file.

Source format (one file per language and batch; ``//`` starts a comment line)::

    # <lang> <chan> [t=D[/H[-H2]]] [org=MAILBOX] [| title]   a thread (a line answers the last)
    #* <lang> <chan> [t=...]                                 each line is a message of its own

``chan`` is ``m`` (Mastodon), ``md`` (Mastodon direct message), ``b`` (Bluesky), ``e``
(e-mail; the title is the subject) or ``r`` (RSS articles, ``site CODE Title || text``).
A message line is ``[^K ]HANDLE[=Full_Name] CODE text``: ``^K`` answers the K-th message of
the thread instead of the previous one, ``N`` is Nordlys itself (code optional, default
``o0``), and CODE is the answer key: intent ``q``uestion, ``c``omplaint, pr``g``aise (good),
``s``ales lead, ``j``ob, p``r``ess, ``o``ther, then sentiment ``+``, ``0`` or ``-``; an
optional ``:xx`` overrides the language. ``\\n`` in a text is a line break.

Run: ``python -m allsang.demo.build`` (writes ``messages.jsonl`` next to this file).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "source"
OUTPUT = HERE / "messages.jsonl"

# Fourteen days that include the end of summer time (26 October 2025), so the sample carries
# both +02:00/+03:00 and +01:00/+02:00 offsets.
START = datetime(2025, 10, 20, 0, 0, tzinfo=ZoneInfo("UTC"))
DAYS = 14
END = START + timedelta(days=DAYS)

ZONES = {
    "sv": "Europe/Stockholm",
    "nb": "Europe/Oslo",
    "nn": "Europe/Oslo",
    "da": "Europe/Copenhagen",
    "fi": "Europe/Helsinki",
    "en": "Europe/Stockholm",
}
INTENTS = {
    "q": "question",
    "c": "complaint",
    "g": "praise",
    "s": "sales_lead",
    "j": "job",
    "r": "press",
    "o": "other",
}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 5, 9, 9, 7, 6, 6, 7, 6, 6, 7, 8, 9, 8, 7, 6, 5, 3, 2]
SENTIMENTS = {"+": "pos", "0": "neu", "-": "neg"}
CODE = re.compile(r"^([qcgsjro])([+0-])(?::([a-z]{2}))?$")

ORG_MASTODON = {
    "handle": "@nordlys@social.example",
    "name": "Nordlys",
    "url": "https://social.example/@nordlys",
}
ORG_BLUESKY = {
    "handle": "nordlys.example",
    "name": "Nordlys",
    "url": "https://bsky.example/profile/nordlys.example",
}
ORG_MAILBOXES = {
    "kundservice": "Nordlys Customer Service",
    "press": "Nordlys Press Office",
    "jobb": "Nordlys Careers",
    "foretag": "Nordlys Business & Groups",
}

INSTANCES = {
    "sv": ["mastodon.example", "toot.example", "social.example", "fikaverse.example"],
    "nb": ["snabelen.example", "mastodon.example", "social.example"],
    "nn": ["snabelen.example", "mastodon.example", "fjord.example"],
    "da": ["mastodon.example", "social.example", "dansk.example"],
    "fi": ["mastodontti.example", "some.example", "mastodon.example"],
    "en": ["mastodon.example", "fosstodon.example", "toot.example", "social.example"],
}

# RSS sites: key -> (name, base URL, outbound)
SITES = {
    "nordlys": ("Nordlys – nyheter", "https://nordlys.example/nyheter", True),
    "nordlys-en": ("Nordlys – news", "https://nordlys.example/en/news", True),
    "pendlarbladet": ("Pendlarbladet", "https://pendlarbladet.example", False),
    "vastnytt": ("Västnytt", "https://vastnytt.example", False),
    "resebloggen": ("Resebloggen Tåg & Tankar", "https://tagochtankar.example", False),
    "dagsavisa": ("Dagsavisa Øst", "https://dagsavisa.example", False),
    "reisebrevet": ("Reisebrevet", "https://reisebrevet.example", False),
    "fjordposten": ("Fjordposten", "https://fjordposten.example", False),
    "vestlandsnytt": ("Vestlandsnytt", "https://vestlandsnytt.example", False),
    "dagbladet-syd": ("Dagbladet Syd", "https://dagbladetsyd.example", False),
    "pendlernyt": ("Pendlernyt", "https://pendlernyt.example", False),
    "kaupunkiuutiset": ("Kaupunkiuutiset", "https://kaupunkiuutiset.example", False),
    "rautatielehti": ("Rautatielehti", "https://rautatielehti.example", False),
    "nordic-transit": ("Nordic Transit Review", "https://nordictransit.example", False),
    "railwatch": ("Railwatch Europe", "https://railwatch.example", False),
}


@dataclass
class Line:
    handle: str
    name: str | None
    intent: str
    sentiment: str
    lang: str
    text: str
    parent: int | None  # index within the thread, None for the root
    title: str | None = None
    site: str | None = None


@dataclass
class Thread:
    lang: str
    chan: str
    opts: dict[str, str]
    title: str | None
    lines: list[Line] = field(default_factory=list)
    source: str = ""


def slug(text: str) -> str:
    table = str.maketrans("åäæøöéüõ", "aaaooeuo")
    text = text.lower().translate(table)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60]


def h(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def parse(path: Path) -> list[Thread]:
    threads: list[Thread] = []
    current: Thread | None = None
    single = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{number}"
        line = raw.strip()
        if not line or line.startswith("//"):
            if not single:
                current = None
            continue
        if line.startswith("#"):
            head, _, title = line.partition("|")
            words = head.split()
            single = words[0] == "#*"
            lang, chan, *rest = words[1:]
            opts = dict(w.split("=", 1) for w in rest)
            current = Thread(lang, chan, opts, title.strip() or None, source=where)
            if not single:
                threads.append(current)
            continue
        if current is None:
            raise SystemExit(f"{where}: message outside a thread")
        parent: int | None = None
        if line.startswith("^"):
            ref, line = line[1:].split(" ", 1)
            parent = int(ref) - 1
        words = line.split(" ", 2)
        handle, name = words[0], None
        if "=" in handle:
            handle, name = handle.split("=", 1)
            name = name.replace("_", " ")
        match = CODE.match(words[1]) if len(words) > 1 else None
        if match:
            text = words[2] if len(words) > 2 else ""
            intent, sentiment, lang = match.group(1), match.group(2), match.group(3)
        elif handle == "N":
            text = line.split(" ", 1)[1]
            intent, sentiment, lang = "o", "0", None
        else:
            raise SystemExit(f"{where}: no answer-key code in {raw!r}")
        title = site = None
        if current.chan == "r":
            site = handle
            title, _, text = text.partition("||")
            title, text = title.strip(), text.strip()
            if site not in SITES:
                raise SystemExit(f"{where}: unknown site {site}")
        text = text.replace("\\n", "\n").strip()
        if not text:
            raise SystemExit(f"{where}: empty text")
        msg = Line(
            handle,
            name,
            INTENTS[intent],
            SENTIMENTS[sentiment],
            lang or current.lang,
            text,
            None,
            title,
            site,
        )
        if handle == "N" and current.lines and not single and msg.intent != "other":
            raise SystemExit(f"{where}: Nordlys's replies are labelled o (other)")
        if single:
            threads.append(
                Thread(current.lang, current.chan, current.opts, None, [msg], source=where)
            )
        else:
            if current.lines:
                msg.parent = parent if parent is not None else len(current.lines) - 1
            current.lines.append(msg)
    return threads


# --- ids in each network's own shape -------------------------------------------------------

B32S = "234567abcdefghijklmnopqrstuvwxyz"


def tid(when: datetime, salt: int) -> str:
    """An AT Protocol record key (TID): microseconds and a clock id, base32-sortable."""
    micros = int(when.timestamp() * 1_000_000) + salt % 1000
    value = (micros << 10) | (salt % 1024)
    out = ""
    for _ in range(13):
        out = B32S[value & 31] + out
        value >>= 5
    return out


def did(handle: str) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    value = h("did", handle)
    value = (value << 64) | h("did2", handle)
    chars = []
    for _ in range(24):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "did:plc:" + "".join(chars)


def snowflake(when: datetime, salt: int) -> str:
    """A Mastodon status id: milliseconds since the epoch shifted left 16 bits, plus noise."""
    return str((int(when.timestamp() * 1000) << 16) | (salt & 0xFFFF))


# --- building ----------------------------------------------------------------------------


class Builder:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.used_ids: set[tuple[str, str]] = set()

    def name_of(self, handle: str, given: str | None) -> str:
        key = handle.lower()
        if given:
            self.names.setdefault(key, given)
        if key in self.names:
            return self.names[key]
        local = handle.split("@")[0].split(".")[0]
        return " ".join(p.capitalize() for p in re.split(r"[_.\-]+", local) if p)

    def author(self, chan: str, line: Line, mailbox: str) -> dict[str, str]:
        if line.handle == "N":
            if chan in ("m", "md"):
                return dict(ORG_MASTODON)
            if chan == "b":
                return dict(ORG_BLUESKY)
            address = f"{mailbox}@nordlys.example"
            return {"handle": address, "name": ORG_MAILBOXES[mailbox], "url": f"mailto:{address}"}
        name = self.name_of(line.handle, line.name)
        if chan in ("m", "md"):
            if "@" in line.handle:
                local, instance = line.handle.split("@", 1)
            else:
                local = line.handle
                options = INSTANCES[line.lang]
                instance = options[h("inst", local) % len(options)]
            return {
                "handle": f"@{local}@{instance}",
                "name": name,
                "url": f"https://{instance}/@{local}",
            }
        if chan == "b":
            handle = line.handle if "." in line.handle else line.handle.replace("_", "-")
            if "." not in handle:
                handle += ".bsky.example"
            return {
                "handle": handle,
                "name": name,
                "url": f"https://bsky.example/profile/{handle}",
            }
        if chan == "e":
            return {"handle": line.handle, "name": name, "url": f"mailto:{line.handle}"}
        site_name, base, _ = SITES[line.site or ""]
        return {"handle": base.split("//", 1)[1], "name": site_name, "url": base}

    def times(self, thread: Thread, rng: random.Random) -> list[datetime]:
        zone = ZoneInfo(ZONES[thread.lang])
        day_spec = thread.opts.get("t")
        for _ in range(200):
            if day_spec:
                day, _, hours = day_spec.partition("/")
                lo, _, hi = hours.partition("-")
                h_lo = int(lo) if lo else 6
                h_hi = int(hi) if hi else (h_lo if lo else 22)
                hour = rng.randint(h_lo, h_hi)
                local_day = (START + timedelta(days=int(day))).astimezone(zone).date()
            else:
                hour = rng.choices(
                    range(24),
                    weights=HOUR_WEIGHTS,
                )[0]
                local_day = (START + timedelta(days=rng.randrange(DAYS))).date()
            root = datetime(
                local_day.year,
                local_day.month,
                local_day.day,
                hour,
                rng.randrange(60),
                rng.randrange(60),
                tzinfo=zone,
            )
            stamps = [root]
            for index, line in enumerate(thread.lines[1:], 1):
                parent_time = stamps[line.parent if line.parent is not None else index - 1]
                if thread.chan == "e":
                    delay = rng.randint(20 * 60, 26 * 3600)
                elif line.handle == "N":
                    delay = rng.choice([rng.randint(90, 1800), rng.randint(600, 4 * 3600)])
                    local_hour = parent_time.astimezone(zone).hour
                    if local_hour >= 22 or local_hour < 6:
                        delay += rng.randint(6 * 3600, 9 * 3600)
                else:
                    delay = rng.randint(40, 3 * 3600)
                stamps.append(parent_time + timedelta(seconds=delay))
            if root >= START and max(stamps) < END:
                return [s.astimezone(zone) for s in stamps]
        raise SystemExit(f"{thread.source}: cannot place the thread in the period")

    def unique(self, channel: str, make: object) -> str:
        for attempt in range(100):
            value = make(attempt)  # type: ignore[operator]
            if (channel, value) not in self.used_ids:
                self.used_ids.add((channel, value))
                return value
        raise SystemExit("cannot find a unique id")

    def build(self, threads: list[Thread]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for t_index, thread in enumerate(threads):
            rng = random.Random(h("thread", t_index, thread.lines[0].text))
            stamps = self.times(thread, rng)
            mailbox = thread.opts.get("org", "kundservice")
            made: list[dict[str, object]] = []
            for index, line in enumerate(thread.lines):
                when = stamps[index]
                author = self.author(thread.chan, line, mailbox)
                parent = made[line.parent] if line.parent is not None else None
                salt = h("id", t_index, index, line.text)
                text = line.text
                msg: dict[str, object] = {}
                if thread.chan in ("m", "md"):
                    channel = "mastodon"
                    external_id = self.unique(
                        channel, lambda a, w=when, s=salt: snowflake(w, s + a)
                    )
                    local, instance = author["handle"].lstrip("@").split("@")
                    url = f"https://{instance}/@{local}/{external_id}"
                    kind = "dm" if thread.chan == "md" else ("reply" if parent else "post")
                    if kind == "dm" and not parent and "@nordlys" not in text:
                        text = "@nordlys " + text
                    if parent and not text.startswith("@"):
                        target = parent["author"]["handle"]  # type: ignore[index]
                        if target != author["handle"]:
                            text = "@" + target.split("@")[1] + " " + text
                elif thread.chan == "b":
                    channel = "bluesky"
                    rkey = self.unique(channel, lambda a, w=when, s=salt: tid(w, s + a))
                    external_id = f"at://{did(author['handle'])}/app.bsky.feed.post/{rkey}"
                    url = f"https://bsky.example/profile/{author['handle']}/post/{rkey}"
                    kind = "reply" if parent else "post"
                elif thread.chan == "e":
                    channel = "email"
                    domain = author["handle"].split("@", 1)[1]
                    external_id = self.unique(
                        channel,
                        lambda a, w=when, s=salt, d=domain: (
                            f"<{w.strftime('%Y%m%d%H%M%S')}.{(s + a) % 16**10:010x}@{d}>"
                        ),
                    )
                    url = "mid:" + external_id.strip("<>")
                    kind = "email"
                    subject = thread.title or ""
                    msg["title"] = f"Re: {subject}" if parent else subject
                    refs = list(parent.get("references", [])) if parent else []  # type: ignore[arg-type]
                    if parent:
                        refs.append(parent["external_id"])
                    msg["references"] = refs
                else:
                    channel = "rss"
                    _, base, outbound = SITES[line.site or ""]
                    url = f"{base}/{when.strftime('%Y/%m')}/{slug(line.title or text)}"
                    external_id = self.unique(channel, lambda a, u=url: u if not a else f"{u}-{a}")
                    url = external_id
                    kind = "article"
                    msg["title"] = line.title
                    if outbound:
                        msg["direction"] = "outbound"
                record: dict[str, object] = {
                    "channel": channel,
                    "external_id": external_id,
                    "url": url,
                    "kind": kind,
                    "author": author,
                    "text": text,
                    "created_at": when.isoformat(timespec="seconds"),
                    "in_reply_to": parent["external_id"] if parent else None,
                    "lang": line.lang,
                }
                record.update(msg)
                if line.handle == "N":
                    record["direction"] = "outbound"
                else:
                    addressed = (
                        kind in ("dm", "email")
                        or "@nordlys" in text.lower()
                        or (parent is not None and parent.get("direction") == "outbound")
                    )
                    if addressed:
                        record["addressed"] = True
                record["demo_labels"] = {"intent": line.intent, "sentiment": line.sentiment}
                made.append(record)
            out.extend(made)
        out.sort(key=lambda m: (datetime.fromisoformat(str(m["created_at"])), m["channel"]))
        return out


def main() -> int:
    threads: list[Thread] = []
    for path in sorted(SOURCES.glob("*.txt")):
        threads.extend(parse(path))
    messages = Builder().build(threads)
    with OUTPUT.open("w", encoding="utf-8") as fh:
        for message in messages:
            fh.write(json.dumps(message, ensure_ascii=False) + "\n")
    print(f"{len(messages)} messages in {len(threads)} threads -> {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
