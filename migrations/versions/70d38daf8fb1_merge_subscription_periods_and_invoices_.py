"""Merge: subscription periods (what went to revenue) and the invoice features' migrations
both followed the subscriptions schema; this joins the two heads.

Revision ID: 70d38daf8fb1
Revises: 6ce36b575213, 4c61b28c9fb7
Create Date: 2026-12-03 04:49:47.400505

"""

# revision identifiers, used by Alembic.
revision = "70d38daf8fb1"
down_revision = ("6ce36b575213", "4c61b28c9fb7")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
