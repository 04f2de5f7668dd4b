"""indexes for the dashboard's author filter and author history across sites

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_comments_author_id", "comments", ["author_id"])
    op.create_index("ix_comments_author_name", "comments", ["author_name"])


def downgrade() -> None:
    op.drop_index("ix_comments_author_name", table_name="comments")
    op.drop_index("ix_comments_author_id", table_name="comments")
