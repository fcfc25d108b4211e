"""calendar: traditional calendar items, iCalendar feeds, own channels, advocacy shares

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "calendar_feed",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("scope_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
            name=op.f("fk_calendar_feed_created_by_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_calendar_feed_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calendar_feed_created_by_id"), ["created_by_id"], unique=False
        )

    op.create_table(
        "calendar_item",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("campaign_id", ID, nullable=True),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_calendar_item_campaign_id_campaign"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
            name=op.f("fk_calendar_item_created_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_calendar_item_department_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["person.id"],
            name=op.f("fk_calendar_item_owner_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_calendar_item_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_item")),
    )
    with op.batch_alter_table("calendar_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calendar_item_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_calendar_item_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "ix_calendar_item_workspace_starts", ["workspace_id", "starts_at"], unique=False
        )

    op.create_table(
        "channel_owner",
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_channel_owner_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_channel_owner_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_owner")),
    )
    with op.batch_alter_table("channel_owner", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_owner_person_id"), ["person_id"], unique=False)

    op.create_table(
        "advocacy_share",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("delivery_id", ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_advocacy_share_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["post_delivery.id"],
            name=op.f("fk_advocacy_share_delivery_id_post_delivery"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_advocacy_share_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["post.id"],
            name=op.f("fk_advocacy_share_post_id_post"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_advocacy_share_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advocacy_share")),
        sa.UniqueConstraint(
            "post_id", "channel_id", name=op.f("uq_advocacy_share_post_id_channel_id")
        ),
    )
    with op.batch_alter_table("advocacy_share", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advocacy_share_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_advocacy_share_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("advocacy_share", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advocacy_share_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_advocacy_share_person_id"))

    op.drop_table("advocacy_share")
    with op.batch_alter_table("channel_owner", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_owner_person_id"))

    op.drop_table("channel_owner")
    with op.batch_alter_table("calendar_item", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_item_workspace_starts")
        batch_op.drop_index(batch_op.f("ix_calendar_item_owner_id"))
        batch_op.drop_index(batch_op.f("ix_calendar_item_campaign_id"))

    op.drop_table("calendar_item")
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_feed_created_by_id"))

    op.drop_table("calendar_feed")
