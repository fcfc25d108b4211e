"""``allsang serve``, ``allsang web``, ``allsang worker`` and ``allsang migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket

import click

from allsang.cli.common import run, settings_with
from allsang.db import Database
from allsang.db.migrate import head_revision, upgrade
from allsang.errors import ConfigurationError
from allsang.ingest.coordinator import IngestOptions
from allsang.runtime import Runtime, open_runtime
from allsang.secretbox import ensure_key_file
from allsang.settings import Settings

host_option = click.option("--host", help="Address to listen on (default 127.0.0.1).")
port_option = click.option("--port", type=int, help="Port to listen on (default 8000).")


def ensure_port_free(host: str, port: int) -> None:
    """Fail early, in words, when another program holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"Port {port} on {host} is already in use. Stop the program using it or "
                    "choose another port with --port (or ALLSANG_PORT)."
                ) from None
            raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None


async def _serve_http(runtime: Runtime, stop: asyncio.Event) -> None:
    import uvicorn

    from allsang.web.app import create_app

    settings = runtime.settings
    config = uvicorn.Config(
        create_app(runtime),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
        server_header=False,
        # Live pages hold SSE streams open; they reconnect to whichever process is up.
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    # uvicorn would install its own signal handlers and exit the loop; we stop it ourselves.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


async def _run_until_signal(
    runtime: Runtime, *, web: bool, worker: bool, ingest: IngestOptions | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = []
    if web:
        tasks.append(asyncio.create_task(_serve_http(runtime, stop)))
    if worker:
        from allsang.jobs import run_worker

        tasks.append(asyncio.create_task(run_worker(runtime, stop)))
    if ingest is not None:
        from allsang.ingest.coordinator import run_ingest

        tasks.append(asyncio.create_task(run_ingest(runtime, stop, ingest)))
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _serve(
    settings: Settings,
    *,
    demo: bool,
    web: bool,
    worker: bool,
    ingest: IngestOptions | None = None,
) -> None:
    """Run the chosen parts until a signal; ``ingest`` (options, or None for no ingest)
    runs the coordinator and the pipeline consumers in this process."""
    async with open_runtime(settings, migrate=web and worker) as runtime:
        if demo:
            from allsang.demo import seed_demo

            logins = await seed_demo(runtime)
            click.echo("Demo workspace ready. Log in with any of these:")
            for login in logins:
                click.echo(
                    f"  {login.email:<32} {login.password:<20} {login.role:<12} {login.name}"
                )
        if web:
            click.echo(f"Allsang is running on http://{settings.host}:{settings.port}/")
        await _run_until_signal(runtime, web=web, worker=worker, ingest=ingest)


@click.command()
@click.option("--demo", is_flag=True, help="Create the demo workspace and print its logins.")
@host_option
@port_option
def serve(demo: bool, host: str | None, port: int | None) -> None:
    """Run everything in one process: web, workers, ingest (data in ./allsang-data/ by default)."""
    settings = settings_with(host=host, port=port)
    ensure_port_free(settings.host, settings.port)
    if settings.is_sqlite:
        created = ensure_key_file(settings)
        if created:
            click.echo(f"Created the secret key file {created}; back it up with the database.")
    from allsang.listening.enrich import ListeningEnricher

    ingest = IngestOptions(enrichers=[ListeningEnricher()])
    run(_serve(settings, demo=demo, web=True, worker=True, ingest=ingest))


@click.command()
@host_option
@port_option
def web(host: str | None, port: int | None) -> None:
    """Run only the web server (scale-out: run `allsang worker` beside it)."""
    settings = settings_with(host=host, port=port)
    ensure_port_free(settings.host, settings.port)
    run(_serve(settings, demo=False, web=True, worker=False))


@click.command()
def worker() -> None:
    """Run only a job worker: scheduled publishing, polling, reports, retention."""
    settings = settings_with()
    run(_serve(settings, demo=False, web=False, worker=True))


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema to this version."""
    settings = settings_with()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def _migrate() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db)
        finally:
            with contextlib.suppress(Exception):
                await db.dispose()

    run(_migrate())
    click.echo(f"The database is at schema {head_revision()}.")


COMMANDS = [serve, web, worker, migrate]
