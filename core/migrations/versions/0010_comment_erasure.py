"""erasure and retention: when a comment's text and author were erased (GDPR art. 17, VIGIE_RETENTION_DAYS)

Revision ID: 0010
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"  # after the author actions (0007), merged from main
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("comments", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_comments_decided_at", "comments", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_comments_decided_at", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("erased_at")
