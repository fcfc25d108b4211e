"""Prometheus metrics: requests by route template (never by raw path, which is unbounded)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "allsang_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "allsang_http_request_duration_seconds",
            "Time to handle an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.jobs = Gauge("allsang_jobs", "Jobs by status", ["status"], registry=self.registry)
        self.database_up = Gauge(
            "allsang_database_up", "1 when the database answered", registry=self.registry
        )
        # For alert rules: a queue that stops draining, an ingest that stops hearing.
        self.oldest_due_job = Gauge(
            "allsang_jobs_oldest_due_seconds",
            "How long the oldest queued job has been due (0 when none is due)",
            registry=self.registry,
        )
        self.channel_since_success = Gauge(
            "allsang_channel_seconds_since_success",
            "Seconds since the channel last fetched or received successfully",
            ["channel", "network"],
            registry=self.registry,
        )
        self.channel_ok = Gauge(
            "allsang_channel_ok",
            "1 when the channel is active; 0 when failing, paused, pending or needing a reconnect",
            ["channel", "network"],
            registry=self.registry,
        )


class RouteTemplates:
    """Maps a request path to the route template that serves it (``/team/people/{person_id}``).

    Built from the app's routes rather than read from the ASGI scope, where FastAPI stores the
    route without the prefix of the router that included it."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        self.mounts: list[str] = []
        for context in iter_route_contexts(routes):
            path = context.path
            if not path:
                continue
            if isinstance(context.original_route, Mount):
                self.mounts.append(path)
            else:
                self.patterns.append((compile_path(path)[0], path))

    def __call__(self, path: str) -> str:
        for pattern, template in self.patterns:
            if pattern.match(path):
                return template
        for mount in self.mounts:
            if path.startswith(mount + "/"):
                return mount + "/{path}"
        return "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, templates: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = self.templates(scope["path"])
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
