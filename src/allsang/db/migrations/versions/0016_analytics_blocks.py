"""analytics blocks: 7- and 28-day rows, per-day channel totals, response histograms

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DAY_UNIQUE = "uq_analytics_day_workspace_id_day_channel_id_department_id_person_id"
VOICE_UNIQUE = "uq_analytics_voice_day_workspace_id_day_channel_id_department_id_contact_id"


def _dimensions(table: str) -> list[sa.Column]:
    return [
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f(f"fk_{table}_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    for table, unique, last in (
        ("analytics_day", DAY_UNIQUE, "person_id"),
        ("analytics_voice_day", VOICE_UNIQUE, "contact_id"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("span", sa.Integer(), nullable=False, server_default="1"))
            batch_op.drop_constraint(op.f(unique), type_="unique")
            batch_op.create_unique_constraint(
                op.f(unique.replace("workspace_id_day", "workspace_id_span_day")),
                ["workspace_id", "span", "day", "channel_id", "department_id", last],
            )
    op.create_table(
        "analytics_channel_day",
        *_dimensions("analytics_channel_day"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("inbound", "replies", "broadcasts", "positive", "neutral", "negative")
        ),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.UniqueConstraint(
            "workspace_id",
            "day",
            "channel_id",
            "department_id",
            name=op.f("uq_analytics_channel_day_workspace_id_day_channel_id_department_id"),
        ),
    )
    op.create_table(
        "analytics_response",
        *_dimensions("analytics_response"),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "conversations",
                "expecting",
                "answered",
                "two_turns",
                "unanswered",
                "sla_met",
                "sla_known",
            )
        ),
        sa.Column("first_response", sa.LargeBinary(), nullable=False),
        sa.Column("resolution", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint(
            "workspace_id",
            "span",
            "day",
            "channel_id",
            "department_id",
            "person_id",
            name=op.f(
                "uq_analytics_response_workspace_id_span_day_channel_id_department_id_person_id"
            ),
        ),
    )
    # The new tables are empty: forgetting the refresh state makes the next analytics.refresh
    # job of each workspace a rebuild (see docs/analytics.md).
    op.execute("DELETE FROM analytics_state")


def downgrade() -> None:
    op.drop_table("analytics_response")
    op.drop_table("analytics_channel_day")
    for table, unique, last in (
        ("analytics_day", DAY_UNIQUE, "person_id"),
        ("analytics_voice_day", VOICE_UNIQUE, "contact_id"),
    ):
        op.execute(f"DELETE FROM {table} WHERE span <> 1")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                op.f(unique.replace("workspace_id_day", "workspace_id_span_day")), type_="unique"
            )
            batch_op.create_unique_constraint(
                op.f(unique), ["workspace_id", "day", "channel_id", "department_id", last]
            )
            batch_op.drop_column("span")
