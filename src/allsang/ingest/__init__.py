"""Ingest: every inbound item, from every connector, through one pipeline (see pipeline.py)."""
