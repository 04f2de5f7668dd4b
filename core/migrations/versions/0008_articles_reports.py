"""articles (title and URL per site and thread) and reader reports (one per comment and reporter), the count of
reports on each comment and each site's report threshold

Revision ID: 0008
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"  # after author actions (0007) and comment erasure (0010), merged from main
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("report_threshold", sa.Integer(), nullable=False, server_default="3"))
    op.add_column("comments", sa.Column("report_count", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_comments_site_thread", "comments", ["site_id", "thread_id", "id"])
    op.create_index("ix_comments_reported", "comments", ["report_count", "id"])
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("thread_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=True),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("site_id", "thread_id", name="uq_articles_site_thread"),
    )
    op.create_index("ix_articles_last_seen", "articles", ["last_seen_at"])
    op.create_table(
        "comment_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("comment_id", sa.Integer(), sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reporter_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("text", sa.String(1000), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("comment_id", "reporter_id", name="uq_reports_comment_reporter"),
    )
    op.create_index("ix_comment_reports_site_id", "comment_reports", ["site_id"])
    # The threads already received become articles (no title yet; the URL when it is an http(s) one).
    op.execute(sa.text(
        "INSERT INTO articles (site_id, thread_id, url, first_seen_at, last_seen_at) "
        "SELECT site_id, thread_id, MAX(CASE WHEN lower(thread_url) LIKE 'http://%' "
        "OR lower(thread_url) LIKE 'https://%' THEN thread_url END), MIN(received_at), MAX(received_at) "
        "FROM comments WHERE thread_id IS NOT NULL GROUP BY site_id, thread_id"))


def downgrade() -> None:
    op.drop_index("ix_comment_reports_site_id", table_name="comment_reports")
    op.drop_table("comment_reports")
    op.drop_index("ix_articles_last_seen", table_name="articles")
    op.drop_table("articles")
    op.drop_index("ix_comments_reported", table_name="comments")
    op.drop_index("ix_comments_site_thread", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("report_count")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("report_threshold")
