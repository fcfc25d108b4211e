"""Prometheus metrics of the job workers (exposed by the web server's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_CLAIMED = Counter("allsang_jobs_claimed", "Jobs claimed by a worker.", ["kind"])
JOBS_SUCCEEDED = Counter("allsang_jobs_succeeded", "Jobs whose handler returned.", ["kind"])
JOBS_RETRIED = Counter(
    "allsang_jobs_retried", "Failed attempts put back in the queue with backoff.", ["kind"]
)
JOBS_DEAD = Counter(
    "allsang_jobs_dead_lettered",
    "Jobs given up: permanent error, attempts used up, or no handler.",
    ["kind"],
)
JOB_RUN_SECONDS = Histogram(
    "allsang_job_run_seconds",
    "Time a handler ran, whatever the outcome.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
