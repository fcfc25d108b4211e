"""routing

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "routing_rule",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("round_robin", sa.Boolean(), nullable=False),
        sa.Column("tag_id", ID, nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=True),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        _fk("routing_rule", "workspace_id", "workspace", "CASCADE"),
        _fk("routing_rule", "department_id", "department", "SET NULL"),
        _fk("routing_rule", "person_id", "person", "SET NULL"),
        _fk("routing_rule", "tag_id", "tag", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
    )
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_rule_workspace_position", ["workspace_id", "position"], unique=False
        )
    op.create_table(
        "department_hours",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("weekly", JSON, nullable=False),
        sa.Column("closed_dates", JSON, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        _fk("department_hours", "department_id", "department", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department_hours")),
        sa.UniqueConstraint("department_id", name=op.f("uq_department_hours_department_id")),
    )
    op.create_table(
        "sla_target",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        _fk("sla_target", "department_id", "department", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_target")),
        sa.UniqueConstraint(
            "department_id", "priority", name=op.f("uq_sla_target_department_id_priority")
        ),
    )
    op.create_table(
        "round_robin_counter",
        sa.Column("department_id", ID, nullable=False),
        sa.Column("turn", ID, nullable=False),
        _fk("round_robin_counter", "department_id", "department", "CASCADE"),
        sa.PrimaryKeyConstraint("department_id", name=op.f("pk_round_robin_counter")),
    )
    op.create_table(
        "round_robin_turn",
        sa.Column("department_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("turn", ID, nullable=False),
        _fk("round_robin_turn", "department_id", "department", "CASCADE"),
        _fk("round_robin_turn", "person_id", "person", "CASCADE"),
        sa.PrimaryKeyConstraint("department_id", "person_id", name=op.f("pk_round_robin_turn")),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_due_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("sla_breached_at", WHEN, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_conversation_sla_due_at"), ["sla_due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_sla_due_at"))
        batch_op.drop_column("sla_breached_at")
        batch_op.drop_column("sla_due_at")
    op.drop_table("round_robin_turn")
    op.drop_table("round_robin_counter")
    op.drop_table("sla_target")
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_rule_workspace_position")
    op.drop_table("routing_rule")
    op.drop_table("department_hours")
