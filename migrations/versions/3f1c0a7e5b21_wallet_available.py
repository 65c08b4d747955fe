"""wallet money ready to pay out is called available

Revision ID: 3f1c0a7e5b21
Revises: 74d4ec3911a8
Create Date: 2026-12-02 21:50:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "3f1c0a7e5b21"
down_revision = "74d4ec3911a8"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tutor_wallets", schema=None) as batch_op:
        batch_op.alter_column("balance", new_column_name="available")
    with op.batch_alter_table("wallet_transactions", schema=None) as batch_op:
        batch_op.alter_column("balance_after", new_column_name="available_after")


def downgrade():
    with op.batch_alter_table("wallet_transactions", schema=None) as batch_op:
        batch_op.alter_column("available_after", new_column_name="balance_after")
    with op.batch_alter_table("tutor_wallets", schema=None) as batch_op:
        batch_op.alter_column("available", new_column_name="balance")
