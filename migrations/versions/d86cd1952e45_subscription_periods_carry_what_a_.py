"""subscription periods carry what a replaced period had not spent

Revision ID: d86cd1952e45
Revises: 9ebff3806787
Create Date: 2026-12-03 06:39:32.975324

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d86cd1952e45"
down_revision = "9ebff3806787"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carried_in", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("carried_out", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.drop_constraint("shares_within_price", type_="check")
        batch_op.drop_constraint("revenue_within_price", type_="check")
        batch_op.create_check_constraint(
            "carried_not_negative", "carried_in >= 0 AND carried_out >= 0"
        )
        batch_op.create_check_constraint(
            "shares_within_price", "shared >= 0 AND shared <= amount_paid + carried_in"
        )
        batch_op.create_check_constraint(
            "revenue_within_price",
            "to_revenue >= 0 AND shared + to_revenue + carried_out <= amount_paid + carried_in",
        )
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.alter_column("carried_in", server_default=None)
        batch_op.alter_column("carried_out", server_default=None)


def downgrade():
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.drop_constraint("revenue_within_price", type_="check")
        batch_op.drop_constraint("shares_within_price", type_="check")
        batch_op.drop_constraint("carried_not_negative", type_="check")
        batch_op.create_check_constraint(
            "shares_within_price", "shared >= 0 AND shared <= amount_paid"
        )
        batch_op.create_check_constraint(
            "revenue_within_price", "to_revenue >= 0 AND shared + to_revenue <= amount_paid"
        )
        batch_op.drop_column("carried_out")
        batch_op.drop_column("carried_in")
