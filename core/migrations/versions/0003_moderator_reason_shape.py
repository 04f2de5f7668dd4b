"""one shape for a moderator's reason: {"kind": "reason", "text"} (the API used to write {"kind": "moderator",
"reason"}, which the dashboard did not show)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

audit_log = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("actor", sa.String),
                         sa.column("reasons", sa.JSON))


def _converted(reasons):
    return [{"kind": "reason", "text": r.get("reason") or ""} if isinstance(r, dict) and r.get("kind") == "moderator"
            else r for r in reasons]


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(audit_log.c.id, audit_log.c.reasons)
                        .where(audit_log.c.actor == "moderator")).all()
    for entry_id, reasons in rows:
        if isinstance(reasons, list) and any(isinstance(r, dict) and r.get("kind") == "moderator" for r in reasons):
            bind.execute(audit_log.update().where(audit_log.c.id == entry_id)
                         .values(reasons=_converted(reasons)))


def downgrade() -> None:
    pass  # the new shape is what every version reads
