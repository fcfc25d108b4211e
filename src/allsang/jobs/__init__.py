"""The Jobs port: durable background jobs in the application database.

Life cycle of a row in ``job``::

    queued ──claim──▶ running ──handler returns──────────────▶ done
      ▲                  │
      │                  ├──handler raises, attempts left───▶ queued (run_at = now + backoff)
      │                  ├──PermanentJobError / attempts used
      │                  │   up / no handler for the kind────▶ dead (reason in last_error)
      │                  └──lease expires (worker died)──────▶ claimed again by any worker
      └────────────── retry_job() (admin) ◀─────────────────── dead

* **Enqueue** with :func:`enqueue` inside the caller's ``db.write()`` transaction: the job
  exists if and only if the change that causes it commits. An ``idempotency_key`` makes a
  second enqueue of the same thing a no-op.
* **Claim**: a :class:`Worker` takes due jobs with an expiring lease (``locked_by``,
  ``locked_until``; ``attempts`` counts claims). A heartbeat extends the lease of running jobs
  every lease/3, so only a dead or hung worker loses its jobs; another worker retakes them
  once the lease expires. An outcome is recorded only while the worker still holds the lease.
* **Retry** with full-jitter exponential backoff (:func:`backoff_delay`) until
  ``max_attempts``, then dead-letter with the exception and the end of its traceback.
* **Handlers** are registered with :func:`handler` and must be idempotent: delivery is at
  least once. **Cron** schedules are registered with :func:`cron`.

Handlers live in ``allsang/<area>/jobs.py`` modules, which :func:`run_worker` imports.
See ``docs/jobs.md``.
"""

from allsang.jobs.admin import job_counts, list_jobs, purge_done, retry_job
from allsang.jobs.enqueue import enqueue
from allsang.jobs.registry import (
    JobContext,
    PermanentJobError,
    Registry,
    Schedule,
    cron,
    default_registry,
    handler,
)
from allsang.jobs.worker import Worker, backoff_delay, run_worker

__all__ = [
    "JobContext",
    "PermanentJobError",
    "Registry",
    "Schedule",
    "Worker",
    "backoff_delay",
    "cron",
    "default_registry",
    "enqueue",
    "handler",
    "job_counts",
    "list_jobs",
    "purge_done",
    "retry_job",
    "run_worker",
]
