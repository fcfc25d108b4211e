"""Allsang: a self-hosted communication hub where the whole organisation takes part."""

__version__ = "0.1.0"
