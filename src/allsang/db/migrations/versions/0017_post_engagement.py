"""post engagement: likes, reposts and replies of each published delivery

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("likes", "reposts", "replies")


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of the table): nullable columns need nothing more.
    for name in COLUMNS:
        op.add_column("post_delivery", sa.Column(name, sa.Integer(), nullable=True))
    op.add_column(
        "post_delivery", sa.Column("engagement_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("post_delivery", schema=None) as batch_op:
        for name in (*COLUMNS, "engagement_at"):
            batch_op.drop_column(name)
