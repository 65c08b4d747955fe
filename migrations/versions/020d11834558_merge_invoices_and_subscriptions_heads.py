"""merge invoices and subscriptions heads

Revision ID: 020d11834558
Revises: 4c61b28c9fb7, 6ce36b575213
Create Date: 2026-12-03 04:47:03.228228

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "020d11834558"
down_revision = ("4c61b28c9fb7", "6ce36b575213")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
