"""The listening engine as an ingest enricher: language, sentiment and query matches.

:class:`ListeningEnricher` implements :class:`allsang.ingest.pipeline.Enricher`. For each
message it fills

* ``lang`` — the connector's language when it gave one (normalised: lower case, region
  dropped, ``no`` → ``nb``), otherwise the detected one (sv, nb, nn, da, fi, en or other);
* ``sentiment`` (pos/neu/neg) and ``sentiment_score`` (−1…1) from the shipped model;
* ``extra["lang_confidence"]`` (1.0 for a connector-given language), ``extra["lang_source"]``
  (``connector`` or ``detected``) and ``extra["matches"]`` — the ids of the listening queries
  that match, in the order of the :class:`QuerySet` (only when one was given).

It never raises for a message: text of any size or content is analysed (language and
sentiment read a bounded prefix, matching sees all), and should the analysis of one message
still fail, that message gets ``extra["enrich_error"]`` and the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from allsang.ingest.message import NormalisedMessage
from allsang.ingest.pipeline import Enrichment
from allsang.listening.langid import LANGUAGES, detect
from allsang.listening.query import Message, QuerySet
from allsang.listening.sentiment import SentimentModel, default_model

log = logging.getLogger(__name__)

_ALIASES = {"no": "nb", "nob": "nb", "nno": "nn", "swe": "sv", "dan": "da", "fin": "fi"}


def normalise_lang(lang: str | None) -> str | None:
    """A connector's language tag in our form: ``nb-NO`` → ``nb``, ``no`` → ``nb``; None or
    blank → None. Tags outside our languages are kept (lower-cased) rather than guessed."""
    if not lang or not lang.strip():
        return None
    base = lang.strip().lower().replace("_", "-").split("-", 1)[0]
    return _ALIASES.get(base, base) or None


class ListeningEnricher:
    """Language, sentiment and query matches for a batch of messages (see the module doc).

    ``queries`` is the workspace's compiled listening queries, or None to skip matching;
    ``model`` defaults to the shipped sentiment model.
    """

    def __init__(self, queries: QuerySet | None = None, model: SentimentModel | None = None):
        self.queries = queries
        self.model = model or default_model()

    def __call__(self, messages: Sequence[NormalisedMessage]) -> list[Enrichment]:
        out = []
        for message in messages:
            try:
                out.append(self.enrich(message))
            except Exception as exc:  # one message's failure must not stop its batch
                log.exception("listening enrichment failed for %s", message.external_id)
                out.append(Enrichment(extra={"enrich_error": f"{type(exc).__name__}: {exc}"}))
        return out

    def enrich(self, message: NormalisedMessage) -> Enrichment:
        """The enrichment of one message."""
        text = message.text
        lang = normalise_lang(message.lang)
        if lang is None:
            guess = detect(text)
            lang, confidence, source = guess.lang, guess.confidence, "detected"
        else:
            confidence, source = 1.0, "connector"
        result = self.model.predict(text, lang if lang in LANGUAGES else None)
        extra: dict[str, object] = {"lang_confidence": confidence, "lang_source": source}
        if self.queries is not None:
            extras = message.extras()
            extra["matches"] = self.queries.match(
                Message(
                    text=text,
                    lang=lang,
                    sentiment=result.label,
                    author=message.author.handle,
                    author_name=message.author.name or None,
                    url=message.url or None,
                    country=_str(extras.get("country")),
                    platform=message.channel,
                    channel=message.channel,
                    title=_str(extras.get("title")),
                )
            )
        return Enrichment(
            lang=lang, sentiment=result.label, sentiment_score=result.score, extra=extra
        )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
