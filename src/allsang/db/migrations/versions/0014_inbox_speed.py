"""inbox speed: indexes for the newest-first list and the language/sentiment filters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The unfiltered list walks this index backwards instead of sorting the workspace.
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_activity", ["workspace_id", "last_message_at", "id"], unique=False
        )
    # "Has an inbound message in language/sentiment X" becomes one probe of this index.
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_conversation_inbound",
            ["conversation_id", "direction", "lang", "sentiment"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_conversation_inbound")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_activity")
