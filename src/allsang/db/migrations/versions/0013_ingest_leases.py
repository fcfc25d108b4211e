"""ingest leases: which ingest process listens to which channel

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_lease",
        sa.Column("channel_id", ID, autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_ingest_lease_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_ingest_lease")),
    )
    with op.batch_alter_table("ingest_lease", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingest_lease_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "ingest_member",
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_ingest_member")),
    )


def downgrade() -> None:
    op.drop_table("ingest_member")
    with op.batch_alter_table("ingest_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_lease_expires_at"))
    op.drop_table("ingest_lease")
