"""inbox facets: per-conversation facts for the filters and counted status tabs

``conversation_facet`` and ``inbox_status_count`` (see allsang.db.models.inbox_facets), the
triggers that keep them in step with ``conversation``, ``message`` and ``inbox_search_doc`` in
the writer's own transaction, and a backfill of what is already stored.

Only plain CREATE TABLE/INDEX/TRIGGER: a batch_alter_table on message or conversation would
rebuild the table on SQLite and drop the search triggers of migration 0006.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _listed(row: str) -> str:
    """The facet status of a conversation row: its status once it has activity, else NULL
    (the list shows only conversations with a ``last_message_at``)."""
    return f"CASE WHEN {row}.last_message_at IS NULL THEN NULL ELSE {row}.status END"


_FACET = "INSERT INTO conversation_facet (conversation_id, kind, value, workspace_id, status)"


def _absent(conversation: str, kind: str, value: str) -> str:
    """Guards every facet insert (rather than an OR IGNORE, which SQLite lets the statement
    firing the trigger override)."""
    return (
        "NOT EXISTS (SELECT 1 FROM conversation_facet x WHERE "
        f"x.conversation_id = {conversation} AND x.kind = {kind} AND x.value = {value})"
    )


def _facet_message(kind: str) -> str:
    """Add the fact ``kind`` (a column of ``message``) of an inbound message NEW."""
    return (
        f"{_FACET} SELECT NEW.conversation_id, '{kind}', NEW.{kind}, c.workspace_id, "
        f"{_listed('c')} FROM conversation c WHERE c.id = NEW.conversation_id "
        f"AND NEW.direction = 'inbound' AND NEW.{kind} IS NOT NULL "
        "AND " + _absent("NEW.conversation_id", f"'{kind}'", f"NEW.{kind}")
    )


# Drop a message's fact from its conversation unless another inbound message still has it
# (the changed or deleted row itself no longer qualifies: these run after the change).
_UNFACET_MESSAGE = [
    f"DELETE FROM conversation_facet WHERE conversation_id = OLD.conversation_id "
    f"AND kind = '{kind}' AND value = OLD.{kind} AND OLD.direction = 'inbound' AND NOT EXISTS ("
    f"SELECT 1 FROM message m WHERE m.conversation_id = OLD.conversation_id "
    f"AND m.direction = 'inbound' AND m.{kind} = OLD.{kind})"
    for kind in ("lang", "sentiment")
]
_FACET_MESSAGE = [_facet_message("lang"), _facet_message("sentiment")]
_UNFACET_DOC = (
    "DELETE FROM conversation_facet WHERE conversation_id = OLD.conversation_id "
    "AND kind = 'intent' AND value = OLD.intent AND NOT EXISTS ("
    "SELECT 1 FROM inbox_search_doc d WHERE d.intent = OLD.intent "
    "AND d.conversation_id = OLD.conversation_id)"
)
_FACET_DOC = (
    f"{_FACET} SELECT NEW.conversation_id, 'intent', NEW.intent, c.workspace_id, {_listed('c')} "
    "FROM conversation c WHERE c.id = NEW.conversation_id AND NEW.intent IS NOT NULL "
    "AND " + _absent("NEW.conversation_id", "'intent'", "NEW.intent")
)
_RESTATED = (
    "(OLD.status IS DISTINCT FROM NEW.status "
    "OR (OLD.last_message_at IS NULL) <> (NEW.last_message_at IS NULL) "
    "OR OLD.workspace_id <> NEW.workspace_id)"
)
_CONVERSATION_CHANGED = f"{_RESTATED} OR (OLD.waiting_since IS NULL) <> (NEW.waiting_since IS NULL)"
# A conversation's status or activity changed: so does the status of each of its facts.
_RESTATE = (
    f"UPDATE conversation_facet SET status = {_listed('NEW')}, workspace_id = NEW.workspace_id "
    f"WHERE conversation_id = NEW.id AND (status IS DISTINCT FROM {_listed('NEW')} "
    "OR workspace_id <> NEW.workspace_id)"
)
_UNANSWERED = [
    "DELETE FROM conversation_facet WHERE conversation_id = NEW.id "
    "AND kind = 'unanswered' AND NEW.waiting_since IS NULL",
    f"{_FACET} SELECT NEW.id, 'unanswered', '', NEW.workspace_id, {_listed('NEW')} "
    "WHERE NEW.waiting_since IS NOT NULL AND " + _absent("NEW.id", "'unanswered'", "''"),
]
_MESSAGE_CHANGED = (
    "OLD.direction IS DISTINCT FROM NEW.direction OR OLD.lang IS DISTINCT FROM NEW.lang "
    "OR OLD.sentiment IS DISTINCT FROM NEW.sentiment "
    "OR OLD.conversation_id IS DISTINCT FROM NEW.conversation_id"
)
_DOC_CHANGED = (
    "OLD.intent IS DISTINCT FROM NEW.intent "
    "OR OLD.conversation_id IS DISTINCT FROM NEW.conversation_id"
)
_COUNT = "INSERT INTO inbox_status_count (workspace_id, kind, value, status, n)"


def _sqlite_trigger(name: str, event: str, body: list[str], when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} {event}{condition} BEGIN {'; '.join(body)}; END"


SQLITE_UP = [
    _sqlite_trigger(
        "inbox_facet_conversation_insert",
        "AFTER INSERT ON conversation",
        [
            f"{_FACET} VALUES (NEW.id, 'all', '', NEW.workspace_id, {_listed('NEW')})",
            _UNANSWERED[1],
        ],
    ),
    _sqlite_trigger(
        "inbox_facet_conversation_update",
        "AFTER UPDATE OF status, last_message_at, waiting_since, workspace_id ON conversation",
        [_RESTATE, *_UNANSWERED],
        _CONVERSATION_CHANGED,
    ),
    _sqlite_trigger(
        "inbox_facet_message_insert",
        "AFTER INSERT ON message",
        _FACET_MESSAGE,
        "NEW.direction = 'inbound' AND NEW.conversation_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "inbox_facet_message_update",
        "AFTER UPDATE OF direction, lang, sentiment, conversation_id ON message",
        [*_UNFACET_MESSAGE, *_FACET_MESSAGE],
        _MESSAGE_CHANGED,
    ),
    _sqlite_trigger(
        "inbox_facet_message_delete",
        "AFTER DELETE ON message",
        _UNFACET_MESSAGE,
        "OLD.direction = 'inbound' AND OLD.conversation_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "inbox_facet_doc_insert",
        "AFTER INSERT ON inbox_search_doc",
        [_FACET_DOC],
        "NEW.intent IS NOT NULL",
    ),
    _sqlite_trigger(
        "inbox_facet_doc_update",
        "AFTER UPDATE OF intent, conversation_id ON inbox_search_doc",
        [_UNFACET_DOC, _FACET_DOC],
        _DOC_CHANGED,
    ),
    _sqlite_trigger(
        "inbox_facet_doc_delete",
        "AFTER DELETE ON inbox_search_doc",
        [_UNFACET_DOC],
        "OLD.intent IS NOT NULL",
    ),
    _sqlite_trigger(
        "inbox_count_facet_insert",
        "AFTER INSERT ON conversation_facet",
        [f"{_COUNT} VALUES (NEW.workspace_id, NEW.kind, NEW.value, NEW.status, 1)"],
        "NEW.status IS NOT NULL",
    ),
    _sqlite_trigger(
        "inbox_count_facet_update",
        "AFTER UPDATE OF status, workspace_id ON conversation_facet",
        [
            f"{_COUNT} SELECT OLD.workspace_id, OLD.kind, OLD.value, OLD.status, -1 "
            "WHERE OLD.status IS NOT NULL",
            f"{_COUNT} SELECT NEW.workspace_id, NEW.kind, NEW.value, NEW.status, 1 "
            "WHERE NEW.status IS NOT NULL",
        ],
        "OLD.status IS DISTINCT FROM NEW.status OR OLD.workspace_id <> NEW.workspace_id",
    ),
    _sqlite_trigger(
        "inbox_count_facet_delete",
        "AFTER DELETE ON conversation_facet",
        [f"{_COUNT} VALUES (OLD.workspace_id, OLD.kind, OLD.value, OLD.status, -1)"],
        "OLD.status IS NOT NULL",
    ),
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "inbox_count_facet_delete",
        "inbox_count_facet_update",
        "inbox_count_facet_insert",
        "inbox_facet_doc_delete",
        "inbox_facet_doc_update",
        "inbox_facet_doc_insert",
        "inbox_facet_message_delete",
        "inbox_facet_message_update",
        "inbox_facet_message_insert",
        "inbox_facet_conversation_update",
        "inbox_facet_conversation_insert",
    )
]


def _pg_function(name: str, body: list[str]) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {'; '.join(body)}; RETURN NULL; END $$"
    )


def _pg_trigger(name: str, event: str, function: str, body: list[str], when: str = "") -> list[str]:
    """A function and its trigger; ``event`` includes FOR EACH ROW/STATEMENT and any
    transition tables."""
    condition = f" WHEN ({when})" if when else ""
    return [
        _pg_function(function, body),
        f"CREATE TRIGGER {name} {event}{condition} EXECUTE FUNCTION {function}()",
    ]


_PG_COUNT_ROWS = (
    "SELECT workspace_id, kind, value, status, {sign} count(*) FROM {rows} "
    "WHERE status IS NOT NULL GROUP BY workspace_id, kind, value, status"
)
_PG_TRIGGERS: list[tuple[str, str, str]] = [  # (trigger, table, function) for the down step
    ("inbox_facet_conversation_insert", "conversation", "inbox_facet_new_conversations"),
    ("inbox_facet_conversation_update", "conversation", "inbox_facet_conversation"),
    ("inbox_facet_message_insert", "message", "inbox_facet_new_messages"),
    ("inbox_facet_message_update", "message", "inbox_facet_message_update"),
    ("inbox_facet_message_delete", "message", "inbox_facet_message_delete"),
    ("inbox_facet_doc_insert", "inbox_search_doc", "inbox_facet_doc_insert"),
    ("inbox_facet_doc_update", "inbox_search_doc", "inbox_facet_doc_update"),
    ("inbox_facet_doc_delete", "inbox_search_doc", "inbox_facet_doc_delete"),
    ("inbox_count_facet_insert", "conversation_facet", "inbox_count_new_facets"),
    ("inbox_count_facet_update", "conversation_facet", "inbox_count_changed_facets"),
    ("inbox_count_facet_delete", "conversation_facet", "inbox_count_old_facets"),
]

POSTGRES_UP = [
    # Ingest inserts conversations and messages in bulk: those are per statement, from the
    # transition table; the rest are rare and per row.
    *_pg_trigger(
        "inbox_facet_conversation_insert",
        "AFTER INSERT ON conversation REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        "inbox_facet_new_conversations",
        [
            f"{_FACET} SELECT id, 'all', '', workspace_id, {_listed('new_rows')} FROM new_rows",
            f"{_FACET} SELECT id, 'unanswered', '', workspace_id, {_listed('new_rows')} "
            "FROM new_rows WHERE waiting_since IS NOT NULL",
        ],
    ),
    *_pg_trigger(
        "inbox_facet_conversation_update",
        "AFTER UPDATE ON conversation FOR EACH ROW",
        "inbox_facet_conversation",
        # Only the statements with work to do: each statement, even one touching no row,
        # runs the statement triggers of conversation_facet (a fifth of ingest's time on
        # PostgreSQL when all three ran for every new conversation).
        [
            f"IF {_RESTATED} THEN {_RESTATE}; END IF",
            "IF NEW.waiting_since IS NULL AND OLD.waiting_since IS NOT NULL "
            f"THEN {_UNANSWERED[0]}; "
            "ELSIF NEW.waiting_since IS NOT NULL AND OLD.waiting_since IS NULL "
            f"THEN {_UNANSWERED[1]} ON CONFLICT DO NOTHING; END IF",
        ],
        _CONVERSATION_CHANGED,
    ),
    *_pg_trigger(
        "inbox_facet_message_insert",
        "AFTER INSERT ON message REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        "inbox_facet_new_messages",
        [
            # In conversation order, so concurrent batches take the facet locks in one order.
            f"{_FACET} SELECT DISTINCT n.conversation_id, f.kind, f.value, c.workspace_id, "
            f"{_listed('c')} FROM new_rows n JOIN conversation c ON c.id = n.conversation_id "
            "CROSS JOIN LATERAL (VALUES ('lang', n.lang), ('sentiment', n.sentiment)) "
            "AS f(kind, value) WHERE n.direction = 'inbound' AND f.value IS NOT NULL "
            "ORDER BY n.conversation_id ON CONFLICT DO NOTHING"
        ],
    ),
    *_pg_trigger(
        "inbox_facet_message_update",
        "AFTER UPDATE ON message FOR EACH ROW",
        "inbox_facet_message_update",
        [*_UNFACET_MESSAGE, *(f"{insert} ON CONFLICT DO NOTHING" for insert in _FACET_MESSAGE)],
        _MESSAGE_CHANGED,
    ),
    # Deletes come in bulk too (erasure, retention, reindexing): per statement as well.
    *_pg_trigger(
        "inbox_facet_message_delete",
        "AFTER DELETE ON message REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        "inbox_facet_message_delete",
        [
            "DELETE FROM conversation_facet f USING (SELECT DISTINCT o.conversation_id, k.kind, "
            "k.value FROM old_rows o CROSS JOIN LATERAL (VALUES ('lang', o.lang), "
            "('sentiment', o.sentiment)) AS k(kind, value) WHERE o.direction = 'inbound' "
            "AND o.conversation_id IS NOT NULL AND k.value IS NOT NULL) g "
            "WHERE f.conversation_id = g.conversation_id AND f.kind = g.kind "
            "AND f.value = g.value AND NOT EXISTS (SELECT 1 FROM message m "
            "WHERE m.conversation_id = g.conversation_id AND m.direction = 'inbound' "
            "AND CASE g.kind WHEN 'lang' THEN m.lang = g.value ELSE m.sentiment = g.value END)"
        ],
    ),
    *_pg_trigger(
        "inbox_facet_doc_insert",
        "AFTER INSERT ON inbox_search_doc REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        "inbox_facet_doc_insert",
        [
            f"{_FACET} SELECT DISTINCT d.conversation_id, 'intent', d.intent, c.workspace_id, "
            f"{_listed('c')} FROM new_rows d JOIN conversation c ON c.id = d.conversation_id "
            "WHERE d.intent IS NOT NULL ORDER BY d.conversation_id ON CONFLICT DO NOTHING"
        ],
    ),
    *_pg_trigger(
        "inbox_facet_doc_update",
        "AFTER UPDATE ON inbox_search_doc FOR EACH ROW",
        "inbox_facet_doc_update",
        [_UNFACET_DOC, f"{_FACET_DOC} ON CONFLICT DO NOTHING"],
        _DOC_CHANGED,
    ),
    *_pg_trigger(
        "inbox_facet_doc_delete",
        "AFTER DELETE ON inbox_search_doc REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        "inbox_facet_doc_delete",
        [
            "DELETE FROM conversation_facet f USING (SELECT DISTINCT conversation_id, intent "
            "FROM old_rows WHERE intent IS NOT NULL) g WHERE f.conversation_id = "
            "g.conversation_id AND f.kind = 'intent' AND f.value = g.intent AND NOT EXISTS ("
            "SELECT 1 FROM inbox_search_doc d WHERE d.intent = g.intent "
            "AND d.conversation_id = g.conversation_id)"
        ],
    ),
    *_pg_trigger(
        "inbox_count_facet_insert",
        "AFTER INSERT ON conversation_facet REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        "inbox_count_new_facets",
        [f"{_COUNT} {_PG_COUNT_ROWS.format(sign='', rows='new_rows')}"],
    ),
    *_pg_trigger(
        "inbox_count_facet_update",
        "AFTER UPDATE ON conversation_facet REFERENCING OLD TABLE AS old_rows "
        "NEW TABLE AS new_rows FOR EACH STATEMENT",
        "inbox_count_changed_facets",
        [
            f"{_COUNT} {_PG_COUNT_ROWS.format(sign='-', rows='old_rows')}",
            f"{_COUNT} {_PG_COUNT_ROWS.format(sign='', rows='new_rows')}",
        ],
    ),
    *_pg_trigger(
        "inbox_count_facet_delete",
        "AFTER DELETE ON conversation_facet REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        "inbox_count_old_facets",
        [f"{_COUNT} {_PG_COUNT_ROWS.format(sign='-', rows='old_rows')}"],
    ),
]
POSTGRES_DOWN = [
    statement
    for trigger, table, function in reversed(_PG_TRIGGERS)
    for statement in (
        f"DROP TRIGGER IF EXISTS {trigger} ON {table}",
        f"DROP FUNCTION IF EXISTS {function}()",
    )
]

# What is already stored, as the triggers would have written it.
BACKFILL = [
    f"{_FACET} SELECT id, 'all', '', workspace_id, {_listed('conversation')} FROM conversation",
    f"{_FACET} SELECT id, 'unanswered', '', workspace_id, {_listed('conversation')} "
    "FROM conversation WHERE waiting_since IS NOT NULL",
    *(
        f"{_FACET} SELECT DISTINCT c.id, '{kind}', m.{column}, c.workspace_id, {_listed('c')} "
        "FROM message m JOIN conversation c ON c.id = m.conversation_id "
        f"WHERE m.direction = 'inbound' AND m.{column} IS NOT NULL"
        for kind, column in (("lang", "lang"), ("sentiment", "sentiment"))
    ),
    f"{_FACET} SELECT DISTINCT c.id, 'intent', d.intent, c.workspace_id, {_listed('c')} "
    "FROM inbox_search_doc d JOIN conversation c ON c.id = d.conversation_id "
    "WHERE d.intent IS NOT NULL",
    f"{_COUNT} SELECT workspace_id, kind, value, status, count(*) FROM conversation_facet "
    "WHERE status IS NOT NULL GROUP BY workspace_id, kind, value, status",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "conversation_facet",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("value", sa.String(length=20), nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "kind", "value"),
    )
    op.create_index(
        "ix_conversation_facet_value", "conversation_facet", ["workspace_id", "kind", "value"]
    )
    op.create_table(
        "inbox_status_count",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("value", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_inbox_status_count_key",
        "inbox_status_count",
        ["workspace_id", "kind", "value", "status"],
    )
    for statement in BACKFILL:
        op.execute(statement)
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
    op.drop_index("ix_inbox_status_count_key", table_name="inbox_status_count")
    op.drop_table("inbox_status_count")
    op.drop_index("ix_conversation_facet_value", table_name="conversation_facet")
    op.drop_table("conversation_facet")
