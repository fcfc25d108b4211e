"""analytics: day buckets, conversation facts, refresh state, scheduled reports

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

TABLES = (
    "analytics_report",
    "analytics_state",
    "analytics_conversation",
    "analytics_query_day",
    "analytics_voice_day",
    "analytics_lang_day",
    "analytics_day",
)


def upgrade() -> None:
    op.create_table(
        "analytics_day",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("inbound", sa.Integer(), nullable=False),
        sa.Column("outbound", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("broadcasts", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_day_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_day")),
        sa.UniqueConstraint(
            "workspace_id",
            "day",
            "channel_id",
            "department_id",
            "person_id",
            name=op.f("uq_analytics_day_workspace_id_day_channel_id_department_id_person_id"),
        ),
    )
    op.create_table(
        "analytics_lang_day",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_lang_day_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_lang_day")),
        sa.UniqueConstraint(
            "workspace_id",
            "day",
            "channel_id",
            "department_id",
            "lang",
            name=op.f("uq_analytics_lang_day_workspace_id_day_channel_id_department_id_lang"),
        ),
    )
    op.create_table(
        "analytics_query_day",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("query_id", ID, nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_query_day_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_query_day")),
        sa.UniqueConstraint(
            "workspace_id",
            "day",
            "query_id",
            name=op.f("uq_analytics_query_day_workspace_id_day_query_id"),
        ),
    )
    op.create_table(
        "analytics_state",
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("last_message_id", ID, nullable=False),
        sa.Column("conversations_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_state_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_analytics_state")),
    )
    op.create_table(
        "analytics_voice_day",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_voice_day_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_voice_day")),
        sa.UniqueConstraint(
            "workspace_id",
            "day",
            "channel_id",
            "department_id",
            "contact_id",
            name=op.f(
                "uq_analytics_voice_day_workspace_id_day_channel_id_department_id_contact_id"
            ),
        ),
    )
    op.create_table(
        "analytics_report",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("last_period", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_analytics_report_department_id_department"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_report_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_report")),
    )
    op.create_table(
        "analytics_conversation",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expects_answer", sa.Boolean(), nullable=False),
        sa.Column("intent", sa.String(length=20), nullable=False),
        sa.Column("inbound", sa.Integer(), nullable=False),
        sa.Column("outbound", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_seconds", sa.Float(), nullable=True),
        sa.Column("business_seconds", sa.Float(), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("resolution_seconds", sa.Float(), nullable=True),
        sa.Column("sla_met", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_analytics_conversation_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_analytics_conversation_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_analytics_conversation")),
    )
    with op.batch_alter_table("analytics_conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_conversation_period", ["workspace_id", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("analytics_conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_conversation_period")
    for table in TABLES:
        op.drop_table(table)
