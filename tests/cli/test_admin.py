from __future__ import annotations

from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import AuditEvent, KeyCheck, Membership, Person
from allsang.secretbox import SecretBox
from tests.cli.conftest import Invoke, SqlRunner


def test_migrate_reports_the_schema(allsang: Invoke) -> None:
    result = allsang("migrate")
    assert result.exit_code == 0, result.output
    assert "The database is at schema" in result.output


def test_user_create_makes_the_first_workspace_and_an_owner(
    allsang: Invoke, with_db: SqlRunner
) -> None:
    result = allsang(
        "user",
        "create",
        "--email",
        "Kari@Example.org",
        "--name",
        "Kari Nordmann",
        input="correct horse battery\ncorrect horse battery\n",
    )
    assert result.exit_code == 0, result.output

    async def load(db: Database) -> tuple[Person | None, Membership | None, list[str]]:
        async with db.read() as session:
            return (
                await session.scalar(select(Person)),
                await session.scalar(select(Membership)),
                list(await session.scalars(select(AuditEvent.action))),
            )

    person, membership, actions = with_db(load)
    assert person is not None and person.email == "kari@example.org"
    assert person.password_hash and person.password_hash.startswith("$argon2id$")
    assert membership is not None and membership.role == "owner"
    assert "person.create" in actions


def test_user_create_refuses_a_duplicate_e_mail(allsang: Invoke) -> None:
    args = (
        "user",
        "create",
        "--email",
        "a@example.org",
        "--name",
        "A",
        "--password",
        "long enough pw",
    )
    assert allsang(*args).exit_code == 0
    result = allsang(*args)
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_user_create_refuses_a_short_password(allsang: Invoke) -> None:
    result = allsang(
        "user", "create", "--email", "a@example.org", "--name", "A", "--password", "short"
    )
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output


def test_keys_generate_prints_a_usable_key(allsang: Invoke) -> None:
    key = allsang("keys", "generate").output.strip()
    box = SecretBox([key])
    assert box.open(box.seal(b"x")) == b"x"


def test_keys_rotate_re_encrypts_with_the_new_primary_key(
    allsang: Invoke, with_db: SqlRunner
) -> None:
    old = allsang("keys", "generate").output.strip()
    new = allsang("keys", "generate").output.strip()
    assert allsang("migrate").exit_code == 0
    assert allsang("doctor", ALLSANG_SECRET_KEYS=old).exit_code == 0  # stores the key check
    result = allsang("keys", "rotate", ALLSANG_SECRET_KEYS=f"{new},{old}")
    assert result.exit_code == 0, result.output

    async def load(db: Database) -> bytes | None:
        async with db.read() as session:
            return await session.scalar(select(KeyCheck.token))

    token = with_db(load)
    assert token is not None
    assert SecretBox([new]).open(token)
    assert allsang("doctor", ALLSANG_SECRET_KEYS=new).exit_code == 0


def test_doctor_says_what_is_wrong_with_an_empty_database(allsang: Invoke, tmp_path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = allsang("doctor", ALLSANG_DATABASE_URL=empty)
    assert result.exit_code == 1
    assert "FAIL Migrations: The database is empty. Run `allsang migrate`." in result.output


def test_doctor_passes_on_a_healthy_installation(allsang: Invoke) -> None:
    result = allsang("doctor")
    assert result.exit_code == 0, result.output
    assert "Everything looks fine." in result.output
