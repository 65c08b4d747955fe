"""subscription periods: what went to revenue

Revision ID: 6ce36b575213
Revises: dac2bb5d89d1
Create Date: 2026-12-03 03:29:41.700788

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "6ce36b575213"
down_revision = "dac2bb5d89d1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("to_revenue", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            "revenue_within_price", "to_revenue >= 0 AND shared + to_revenue <= amount_paid"
        )
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.alter_column("to_revenue", server_default=None)


def downgrade():
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.drop_constraint("revenue_within_price", type_="check")
        batch_op.drop_column("to_revenue")
