"""learning from moderators: per-site models (site_models) and the model threshold stored with each result

Revision ID: 0009
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"  # chain: 0006 -> 0007 (authors) -> 0010 (erasure) -> 0008 (articles) -> 0009
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_results", sa.Column("threshold", sa.Float(), nullable=True))
    op.create_table(
        "site_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_version", sa.String(100), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("trained_by", sa.String(200), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("site_id", "number", name="uq_site_models_site_number"),
    )
    op.create_index("ix_site_models_site_id", "site_models", ["site_id"])
    op.create_index("ix_site_models_status_site", "site_models", ["status", "site_id"])


def downgrade() -> None:
    op.drop_index("ix_site_models_status_site", "site_models")
    op.drop_index("ix_site_models_site_id", "site_models")
    op.drop_table("site_models")
    with op.batch_alter_table("model_results") as batch:
        batch.drop_column("threshold")
