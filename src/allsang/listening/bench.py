"""``allsang bench listen``: messages/s for language + sentiment + matching, beside regexes.

``run(quick)`` returns ``{"metrics": {...}, "baseline": {...}, "notes": [...]}``. Messages
and queries are generated (seeded): brand, product and person names in boolean queries with
phrases, NEAR and wildcards, and short multilingual posts that mention some of them.

The baseline is one compiled Python regular expression per query (what a naive listener
does), measured in the same run on a subset of the messages; its per-message cost grows
linearly with the number of queries, so the 10,000-query figure is extrapolated from the
measured per-query cost — the notes say so.
"""

from __future__ import annotations

import random
import re
import resource
import time
from typing import Any

from allsang.listening.langid import detect
from allsang.listening.query import Message, QuerySet
from allsang.listening.sentiment import default_model

_SYLLABLES = [
    "vol",
    "vo",
    "sa",
    "ab",
    "ik",
    "ea",
    "no",
    "kia",
    "lu",
    "ma",
    "ri",
    "ka",
    "to",
    "ra",
    "sen",
    "dal",
    "berg",
    "mark",
    "ström",
    "lind",
    "tek",
]
_FIRST = [
    "Anna",
    "Erik",
    "Lars",
    "Mette",
    "Sanna",
    "Jonas",
    "Ingrid",
    "Mikko",
    "Aino",
    "Ole",
    "Freja",
    "Nils",
    "Sofie",
    "Johan",
]
_FILLER = {
    "sv": [
        "jag",
        "tycker",
        "att",
        "den",
        "nya",
        "är",
        "riktigt",
        "bra",
        "men",
        "kundtjänsten",
        "svarar",
        "aldrig",
    ],
    "nb": [
        "jeg",
        "synes",
        "den",
        "nye",
        "er",
        "veldig",
        "bra",
        "men",
        "kundeservice",
        "svarer",
        "aldri",
        "på",
    ],
    "da": [
        "jeg",
        "synes",
        "den",
        "nye",
        "er",
        "rigtig",
        "god",
        "men",
        "kundeservice",
        "svarer",
        "aldrig",
        "på",
    ],
    "fi": [
        "minusta",
        "uusi",
        "on",
        "todella",
        "hyvä",
        "mutta",
        "asiakaspalvelu",
        "ei",
        "vastaa",
        "koskaan",
    ],
    "en": [
        "i",
        "think",
        "the",
        "new",
        "one",
        "is",
        "really",
        "good",
        "but",
        "support",
        "never",
        "answers",
    ],
}


def _names(rng: random.Random, n: int) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def make_queries(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` realistic queries over generated brand, product and person names."""
    brands = _names(rng, max(n, 50))
    queries = []
    for i in range(n):
        brand = brands[i]
        product = rng.choice(brands) + str(rng.randint(1, 99))
        person = f'"{rng.choice(_FIRST)} {rng.choice(brands).capitalize()}"'
        shape = i % 5
        if shape == 0:
            text = f"{brand} OR #{brand} OR @{brand}"
        elif shape == 1:
            text = f'({brand} OR "{brand} {product}") -jobb -job'
        elif shape == 2:
            text = f"{brand} NEAR/4 (kundservice OR kundtjänst OR support OR kundeservice)"
        elif shape == 3:
            text = f"{brand[:4]}* AND ({product} OR {person}) NOT lang:en"
        else:
            text = f'{person} OR ("{brand} {product}"~2 sentiment:neg)'
        queries.append((f"q{i}", text))
    return queries


def make_messages(n: int, queries: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """Posts in our five languages; about a third mention a name from some query."""
    names = [re.findall(r"\w+", q)[0] for _, q in queries]
    out = []
    for _ in range(n):
        lang = rng.choice(list(_FILLER))
        words = rng.choices(_FILLER[lang], k=rng.randint(6, 14))
        if rng.random() < 0.33:
            words.insert(rng.randrange(len(words)), rng.choice(names).capitalize())
        if rng.random() < 0.2:
            words.append(rng.choice(["🔥", "😡", "👍", "#fail", "@support", "https://x.example/a"]))
        out.append(" ".join(words))
    return out


def _regex(query: str) -> re.Pattern[str]:
    # The naive approach: each query's words as one alternation, checked per query.
    words = [w for w in re.findall(r"[#@]?\w+\*?", query) if w not in ("AND", "OR", "NOT")]
    parts = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words]
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE)


def _per(start: float, count: int) -> float:
    """Microseconds per item since ``start``."""
    return 1e6 * (time.perf_counter() - start) / count


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def run(quick: bool = False) -> dict[str, Any]:
    """Measure and return metrics and the regex baseline (see the module doc)."""
    rng = random.Random(4)
    n_messages = 3_000 if quick else 20_000
    n_regex_messages = 200 if quick else 1_000
    model = default_model()
    detect("warm up")
    metrics: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    notes: list[str] = []
    for n_queries in (1_000, 10_000):
        queries = make_queries(n_queries, rng)
        start = time.perf_counter()
        compiled = QuerySet(queries)
        metrics[f"compile_s_{n_queries}_queries"] = round(time.perf_counter() - start, 3)
        messages = make_messages(n_messages, queries, rng)
        hits = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        for text in messages:
            guess = detect(text)
            sentiment = model.predict(text, guess.lang)
            hits += bool(compiled.match(Message(text, lang=guess.lang, sentiment=sentiment.label)))
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        metrics[f"messages_per_s_full_{n_queries}_queries"] = _rate(n_messages, seconds)
        # CPU time: what one core does when it is not shared (the wall clock also counts the
        # time other processes on a busy machine had the core).
        metrics[f"messages_per_s_full_{n_queries}_queries_cpu"] = _rate(n_messages, cpu_seconds)
        start = time.perf_counter()
        for text in messages:
            compiled.match(text)
        match_seconds = time.perf_counter() - start
        metrics[f"messages_per_s_matching_only_{n_queries}_queries"] = _rate(
            n_messages, match_seconds
        )
        metrics[f"matched_share_{n_queries}_queries"] = round(hits / n_messages, 3)
        if n_queries == 10_000:
            start = time.perf_counter()
            guesses = [detect(text) for text in messages]
            metrics["us_per_message_langid"] = round(_per(start, n_messages), 1)
            start = time.perf_counter()
            for text, guess in zip(messages, guesses, strict=True):
                model.predict(text, guess.lang)
            metrics["us_per_message_sentiment"] = round(_per(start, n_messages), 1)
            metrics["us_per_message_matching"] = round(1e6 * match_seconds / n_messages, 1)

        # Baseline: one regex per query, on a subset of messages and of queries.
        subset_queries = queries[: min(n_queries, 1_000)]
        patterns = [_regex(q) for _, q in subset_queries]
        sample = messages[:n_regex_messages]
        start = time.perf_counter()
        for text in sample:
            for pattern in patterns:
                pattern.search(text)
        per_query_message = (time.perf_counter() - start) / (len(sample) * len(patterns))
        regex_rate = 1.0 / (per_query_message * n_queries)
        baseline[f"messages_per_s_regex_{n_queries}_queries"] = round(regex_rate, 1)
        metrics[f"speedup_matching_vs_regex_{n_queries}_queries"] = round(
            metrics[f"messages_per_s_matching_only_{n_queries}_queries"] / regex_rate, 1
        )
        if n_queries > len(patterns):
            notes.append(
                f"regex baseline at {n_queries} queries extrapolated from {len(patterns)} "
                f"regexes x {len(sample)} messages ({per_query_message * 1e6:.2f} µs each)"
            )
    # Peak resident memory of the whole process (tracemalloc would slow the timed loops).
    metrics["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    notes.append("single thread; the regex baseline only checks words, not the boolean logic")
    notes.append(
        "language and sentiment keep per-word tables: the generated posts reuse a small "
        "vocabulary, so their words are all known after warm-up, as most words of a real "
        "stream are (scripts/eval_*.py report rates on real, mostly unseen sentences)"
    )
    return {"metrics": metrics, "baseline": baseline, "notes": notes}
