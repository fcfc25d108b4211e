"""Schemathesis fuzzes every operation in the OpenAPI document with an admin's bearer token.

The app runs in-process over httpx's ASGI transport on one event loop of this test's own
(an ``asyncio.Runner``), so the database engine, the app and every request share a loop; the
generated cases are sent through that client and checked with schemathesis' own checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from allsang.auth.tokens import create_api_token
from allsang.db import Database
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import API_PREFIX, create_app
from tests.conftest import TEST_KEY
from tests.web.conftest import cheap_password_hashing, create_world

__all__ = ["cheap_password_hashing"]  # autouse: argon2 at test cost for the seeded people

BASE_URL = "http://testserver"


def _openapi() -> dict[str, Any]:
    """The document as the app serves it (building it opens no database connection)."""
    settings = Settings(database_url="sqlite+aiosqlite:///never-opened.db", secret_keys=TEST_KEY)
    runtime = Runtime(
        settings=settings, db=Database(settings.sqlalchemy_url), secrets=SecretBox([TEST_KEY])
    )
    return create_app(runtime).openapi()


# One parametrised test per operation, each on a fresh database: a failure names its operation
# and does not depend on what other operations stored before it.
schema = schemathesis.openapi.from_dict(_openapi())


@dataclass
class RunningApi:
    runner: asyncio.Runner
    client: httpx.AsyncClient

    def send(self, case: Case) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)  # httpx deprecates per-request cookies, even empty ones
        if isinstance(kwargs.get("data"), bytes | str):
            kwargs["content"] = kwargs.pop("data")  # raw bodies are `content` to httpx
        return self.runner.run(self.client.request(**kwargs))


@pytest.fixture
def running_api(settings: Settings) -> Iterator[RunningApi]:
    """The app on a fresh workspace ("acme", one person per role) and a client holding an
    admin API token."""
    with asyncio.Runner() as runner:
        db = Database(settings.sqlalchemy_url)
        runtime = Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY]))
        token = runner.run(_admin_token(runtime))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime)),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            yield RunningApi(runner=runner, client=client)
        finally:
            runner.run(client.aclose())
            runner.run(db.dispose())


async def _admin_token(runtime: Runtime) -> str:
    world = await create_world(runtime)
    async with runtime.db.write() as session:
        return await create_api_token(
            session, workspace_id=world.workspace.id, role="admin", name="fuzzer"
        )


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    # Shrinking re-runs a failing operation hundreds of times against the database; the
    # failure report already carries the failing request as a curl command.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_api_operation_answers_with_a_server_error(case: Case, running_api: RunningApi) -> None:
    assert case.path.startswith(API_PREFIX)
    response = running_api.send(case)
    # Not content_type_conformance: errors are RFC 9457 `application/problem+json`, which
    # FastAPI's document lists as `application/json`.
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
