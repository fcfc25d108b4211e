"""Analytics: do we talk WITH our audience or only TO it? (SPEC §2H, docs/metrics.md)

* :mod:`.definitions` — the metric definitions as pure functions;
* :mod:`.aggregate` — the aggregate tables, refreshed incrementally and rebuilt on demand;
* :mod:`.figures` — the figures of a period, read from the aggregates only;
* :mod:`.export` — CSV and XLSX; :mod:`.reports` — scheduled e-mail reports;
* :mod:`.jobs` — the refresh job and the schedules.
"""
