"""publishing: campaigns, posts, variants, media, deliveries, approval chains, queue slots

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "approval_chain",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("editors_exempt", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_approval_chain_department_id_department"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_approval_chain_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_chain")),
    )
    with op.batch_alter_table("approval_chain", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_chain_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "campaign",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_campaign_department_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_campaign_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_campaign_workspace_id_name")),
    )
    op.create_table(
        "publishing_incident",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("oldest_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", ID, nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_publishing_incident_alert_id_alert"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_publishing_incident_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_incident")),
    )
    with op.batch_alter_table("publishing_incident", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publishing_incident_workspace", ["workspace_id", "closed_at"], unique=False
        )

    op.create_table(
        "approval_step",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("chain_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("person_ids", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["approval_chain.id"],
            name=op.f("fk_approval_step_chain_id_approval_chain"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_step")),
        sa.UniqueConstraint(
            "chain_id", "position", name=op.f("uq_approval_step_chain_id_position")
        ),
    )
    op.create_table(
        "post",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("campaign_id", ID, nullable=True),
        sa.Column("author_id", ID, nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approval_chain_id", ID, nullable=True),
        sa.Column("approval_step", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("planned_local", sa.String(length=19), nullable=True),
        sa.Column("recurrence", sa.Text(), nullable=True),
        sa.Column("recurrence_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("share_ready", sa.Boolean(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_chain_id"],
            ["approval_chain.id"],
            name=op.f("fk_post_approval_chain_id_approval_chain"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["person.id"], name=op.f("fk_post_author_id_person"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_post_campaign_id_campaign"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_post_department_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_post_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post")),
    )
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_post_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(
            "ix_post_workspace_scheduled", ["workspace_id", "scheduled_at"], unique=False
        )
        batch_op.create_index("ix_post_workspace_status", ["workspace_id", "status"], unique=False)

    op.create_table(
        "queue_slot",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_queue_slot_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_queue_slot_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_slot")),
        sa.UniqueConstraint(
            "channel_id", "weekday", "minute", name=op.f("uq_queue_slot_channel_id_weekday_minute")
        ),
    )
    op.create_table(
        "post_approval",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("step_id", ID, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_post_approval_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_approval_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["approval_step.id"],
            name=op.f("fk_post_approval_step_id_approval_step"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_approval")),
    )
    with op.batch_alter_table("post_approval", schema=None) as batch_op:
        batch_op.create_index("ix_post_approval_post", ["post_id"], unique=False)

    op.create_table(
        "post_comment",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_post_comment_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_comment_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_comment")),
    )
    with op.batch_alter_table("post_comment", schema=None) as batch_op:
        batch_op.create_index("ix_post_comment_post", ["post_id"], unique=False)

    op.create_table(
        "post_delivery",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("unknown_reason", sa.Text(), nullable=True),
        sa.Column("resolved_by_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_post_delivery_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_delivery_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["person.id"],
            name=op.f("fk_post_delivery_resolved_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_post_delivery_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_delivery")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_post_delivery_idempotency_key")),
    )
    with op.batch_alter_table("post_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_post_delivery_post", ["post_id"], unique=False)
        batch_op.create_index("ix_post_delivery_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "post_media",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=True),
        sa.Column("uploaded_by_id", ID, nullable=True),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("alt_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_media_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["person.id"],
            name=op.f("fk_post_media_uploaded_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_post_media_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_media")),
    )
    with op.batch_alter_table("post_media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_media_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_variant",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media_ids", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_post_variant_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_variant_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_variant")),
        sa.UniqueConstraint(
            "post_id", "channel_id", name=op.f("uq_post_variant_post_id_channel_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("post_variant")
    op.drop_table("post_media")
    op.drop_table("post_delivery")
    op.drop_table("post_comment")
    op.drop_table("post_approval")
    op.drop_table("queue_slot")
    op.drop_table("post")
    op.drop_table("approval_step")
    op.drop_table("publishing_incident")
    op.drop_table("campaign")
    op.drop_table("approval_chain")
