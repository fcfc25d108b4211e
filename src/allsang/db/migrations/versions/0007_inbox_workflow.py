"""inbox workflow: snoozes, saved replies, replies held for approval

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "conversation_snooze",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("snoozed_at", sa.DateTime(timezone=True), nullable=False),
        _fk("conversation_snooze", "conversation_id", "conversation", "CASCADE"),
        _fk("conversation_snooze", "person_id", "person", "SET NULL"),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_snooze")),
    )
    op.create_table(
        "saved_reply",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("saved_reply", "workspace_id", "workspace", "CASCADE"),
        _fk("saved_reply", "department_id", "department", "CASCADE"),
        _fk("saved_reply", "created_by", "person", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_reply")),
    )
    with op.batch_alter_table("saved_reply") as batch_op:
        batch_op.create_index("ix_saved_reply_workspace", ["workspace_id", "name"], unique=False)
    op.create_table(
        "pending_reply",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("author_person_id", ID, nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("pending_reply", "workspace_id", "workspace", "CASCADE"),
        _fk("pending_reply", "conversation_id", "conversation", "CASCADE"),
        _fk("pending_reply", "author_person_id", "person", "SET NULL"),
        _fk("pending_reply", "decided_by", "person", "SET NULL"),
        _fk("pending_reply", "message_id", "message", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_reply")),
    )
    with op.batch_alter_table("pending_reply") as batch_op:
        batch_op.create_index(
            "ix_pending_reply_workspace_status",
            ["workspace_id", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_pending_reply_conversation", ["conversation_id", "status"], unique=False
        )


def downgrade() -> None:
    op.drop_table("pending_reply")
    op.drop_table("saved_reply")
    op.drop_table("conversation_snooze")
