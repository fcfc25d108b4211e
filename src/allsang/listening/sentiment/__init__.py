"""Sentiment (pos/neu/neg, score −1…1) for sv, nb/nn, da, fi and en, explainable, correctable."""

from allsang.listening.sentiment.corrections import Corrections
from allsang.listening.sentiment.model import Sentiment, SentimentModel, analyse, default_model

__all__ = ["Corrections", "Sentiment", "SentimentModel", "analyse", "default_model"]
