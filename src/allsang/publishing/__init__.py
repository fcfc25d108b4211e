"""Publishing: posts, approvals, scheduling and exactly-once delivery to networks (SPEC §2F).

* :mod:`allsang.publishing.states` — the workflow's statuses, legal transitions, typed errors.
* :mod:`allsang.publishing.service` — what people do (draft, review, schedule, resolve), each
  call authorised and audited, inside the caller's ``db.write()`` transaction.
* :mod:`allsang.publishing.timing` — local times → UTC across daylight saving time, queue
  slots, recurrences.
* :mod:`allsang.publishing.engine` — the delivery job: exactly-once publishing with read-back.
* :mod:`allsang.publishing.jobs` — job handlers and the dead-man alarm.

See ``docs/publishing.md``.
"""
