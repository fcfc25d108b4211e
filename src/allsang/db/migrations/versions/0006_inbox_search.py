"""inbox search: search documents, the indexing queue and the triggers that fill it

On SQLite the terms live in the FTS5 table ``inbox_search_fts`` (rowid = inbox_search_doc.id),
on PostgreSQL in ``inbox_search_doc.document`` (tsvector, GIN index). The triggers queue every
inserted or changed message, conversation and contact in ``inbox_search_pending`` within the
writer's own transaction; ``allsang.inbox.search`` builds the documents from the queue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_QUEUE_MESSAGE = "INSERT INTO inbox_search_pending (message_id) VALUES (NEW.id)"
_QUEUE_CONVERSATION = "INSERT INTO inbox_search_pending (conversation_id) VALUES (NEW.id)"
_QUEUE_CONTACT = (
    "INSERT INTO inbox_search_pending (conversation_id) "
    "SELECT id FROM conversation WHERE contact_id = NEW.id"
)

SQLITE_UP = [
    # Terms are written pre-tokenised and casefolded (allsang.inbox.search); diacritics must
    # stay (å, ä, ö are letters of their own in the Nordic languages).
    "CREATE VIRTUAL TABLE inbox_search_fts USING fts5("
    "stemmed, plain, tokenize = 'unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER inbox_search_message_insert AFTER INSERT ON message "
    f"BEGIN {_QUEUE_MESSAGE}; END",
    f"CREATE TRIGGER inbox_search_message_update "
    f"AFTER UPDATE OF text, lang, direction, conversation_id, workspace_id ON message "
    f"BEGIN {_QUEUE_MESSAGE}; END",
    f"CREATE TRIGGER inbox_search_conversation_insert AFTER INSERT ON conversation "
    f"BEGIN {_QUEUE_CONVERSATION}; END",
    f"CREATE TRIGGER inbox_search_conversation_update "
    f"AFTER UPDATE OF subject, contact_id, workspace_id ON conversation "
    f"BEGIN {_QUEUE_CONVERSATION}; END",
    f"CREATE TRIGGER inbox_search_contact_update AFTER UPDATE OF name, handle ON contact "
    f"BEGIN {_QUEUE_CONTACT}; END",
    # A document deleted directly or by a cascade takes its terms with it.
    "CREATE TRIGGER inbox_search_doc_delete AFTER DELETE ON inbox_search_doc "
    "BEGIN DELETE FROM inbox_search_fts WHERE rowid = OLD.id; END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS inbox_search_doc_delete",
    "DROP TRIGGER IF EXISTS inbox_search_contact_update",
    "DROP TRIGGER IF EXISTS inbox_search_conversation_update",
    "DROP TRIGGER IF EXISTS inbox_search_conversation_insert",
    "DROP TRIGGER IF EXISTS inbox_search_message_update",
    "DROP TRIGGER IF EXISTS inbox_search_message_insert",
    "DROP TABLE IF EXISTS inbox_search_fts",
]


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN NULL; END $$"
    )


POSTGRES_UP = [
    # Inserts are queued per statement from the transition table: ingest inserts in bulk.
    _pg_function(
        "inbox_search_queue_new_messages",
        "INSERT INTO inbox_search_pending (message_id) SELECT id FROM new_rows",
    ),
    "CREATE TRIGGER inbox_search_message_insert AFTER INSERT ON message "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION inbox_search_queue_new_messages()",
    _pg_function("inbox_search_queue_message", _QUEUE_MESSAGE),
    "CREATE TRIGGER inbox_search_message_update AFTER UPDATE ON message FOR EACH ROW "
    "WHEN (OLD.text IS DISTINCT FROM NEW.text OR OLD.lang IS DISTINCT FROM NEW.lang "
    "OR OLD.direction IS DISTINCT FROM NEW.direction "
    "OR OLD.conversation_id IS DISTINCT FROM NEW.conversation_id "
    "OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id) "
    "EXECUTE FUNCTION inbox_search_queue_message()",
    _pg_function(
        "inbox_search_queue_new_conversations",
        "INSERT INTO inbox_search_pending (conversation_id) SELECT id FROM new_rows",
    ),
    "CREATE TRIGGER inbox_search_conversation_insert AFTER INSERT ON conversation "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION inbox_search_queue_new_conversations()",
    _pg_function("inbox_search_queue_conversation", _QUEUE_CONVERSATION),
    "CREATE TRIGGER inbox_search_conversation_update AFTER UPDATE ON conversation "
    "FOR EACH ROW WHEN (OLD.subject IS DISTINCT FROM NEW.subject "
    "OR OLD.contact_id IS DISTINCT FROM NEW.contact_id "
    "OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id) "
    "EXECUTE FUNCTION inbox_search_queue_conversation()",
    _pg_function("inbox_search_queue_contact", _QUEUE_CONTACT),
    "CREATE TRIGGER inbox_search_contact_update AFTER UPDATE ON contact FOR EACH ROW "
    "WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.handle IS DISTINCT FROM NEW.handle) "
    "EXECUTE FUNCTION inbox_search_queue_contact()",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS inbox_search_contact_update ON contact",
    "DROP TRIGGER IF EXISTS inbox_search_conversation_update ON conversation",
    "DROP TRIGGER IF EXISTS inbox_search_conversation_insert ON conversation",
    "DROP TRIGGER IF EXISTS inbox_search_message_update ON message",
    "DROP TRIGGER IF EXISTS inbox_search_message_insert ON message",
    "DROP FUNCTION IF EXISTS inbox_search_queue_contact()",
    "DROP FUNCTION IF EXISTS inbox_search_queue_conversation()",
    "DROP FUNCTION IF EXISTS inbox_search_queue_new_conversations()",
    "DROP FUNCTION IF EXISTS inbox_search_queue_message()",
    "DROP FUNCTION IF EXISTS inbox_search_queue_new_messages()",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "inbox_search_doc",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=True),
        sa.Column("intent", sa.String(length=20), nullable=True),
        sa.Column(
            "document", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_inbox_search_doc_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_inbox_search_doc_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_inbox_search_doc_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_search_doc")),
        sa.UniqueConstraint("message_id", name=op.f("uq_inbox_search_doc_message_id")),
    )
    op.create_index(
        "ix_inbox_search_doc_conversation",
        "inbox_search_doc",
        ["conversation_id", "message_id"],
    )
    op.create_index(
        "ix_inbox_search_doc_document",
        "inbox_search_doc",
        ["document"],
        postgresql_using="gin",
        sqlite_where=sa.text("document IS NOT NULL"),
    )
    op.create_index("ix_inbox_search_doc_intent", "inbox_search_doc", ["intent", "conversation_id"])
    op.create_table(
        "inbox_search_pending",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("conversation_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_search_pending")),
    )
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)
    # Whatever is already stored is queued, so the first search indexes it.
    op.execute("INSERT INTO inbox_search_pending (message_id) SELECT id FROM message")
    op.execute("INSERT INTO inbox_search_pending (conversation_id) SELECT id FROM conversation")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
    op.drop_table("inbox_search_pending")
    op.drop_index("ix_inbox_search_doc_intent", table_name="inbox_search_doc")
    op.drop_index("ix_inbox_search_doc_document", table_name="inbox_search_doc")
    op.drop_index("ix_inbox_search_doc_conversation", table_name="inbox_search_doc")
    op.drop_table("inbox_search_doc")
