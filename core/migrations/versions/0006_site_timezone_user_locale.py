"""dashboard i18n: each site's time zone (dates on the dashboard) and each user's language

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("timezone", sa.String(64), nullable=False, server_default="Europe/Paris"))
    op.add_column("users", sa.Column("locale", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("timezone")
