"""The social wall (SPEC §2G): screens, their sources, moderation and the event log screens replay.

* :mod:`allsang.wall.rules` — the automatic moderation rules (pure functions).
* :mod:`allsang.wall.service` — screens, display tokens, evaluating new messages, the manual queue
  and the append-only event log.
"""
