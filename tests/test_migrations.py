"""Schema and data migrations keep what is already stored readable by the current code."""
from __future__ import annotations

from sqlalchemy import create_engine, select, text

from core.storage.migrate import upgrade
from core.storage.models import AuditEntry


def test_moderator_reasons_of_the_old_api_shape_are_converted(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sites (id, slug, name, policy, reject_reasons, signing_secrets, created_at) "
                          "VALUES (1, 's', 's', '{}', '[]', '[]', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO comments (id, site_id, text, source, status, received_at, updated_at) "
                          "VALUES (1, 1, 'texte', 'api', 'rejected', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for entry_id, actor, reasons in (
                (1, "model", '[{"kind": "score", "label": "toxicity", "score": 0.9, "threshold": 0.5}]'),
                (2, "moderator", '[{"kind": "moderator", "reason": "Hors sujet"}]'),
                (3, "moderator", '[{"kind": "reason", "text": "Insulte"}]')):
            conn.execute(text("INSERT INTO audit_log (id, site_id, comment_id, actor, actor_name, action, "
                              "status_from, status_to, reasons, created_at) VALUES (:id, 1, 1, :actor, '', 'x', "
                              "'pending', 'rejected', :reasons, CURRENT_TIMESTAMP)"),
                         {"id": entry_id, "actor": actor, "reasons": reasons})
    upgrade(url)
    with engine.connect() as conn:
        reasons = dict(conn.execute(select(AuditEntry.id, AuditEntry.reasons)).all())
    engine.dispose()
    assert reasons[1] == [{"kind": "score", "label": "toxicity", "score": 0.9, "threshold": 0.5}]
    assert reasons[2] == [{"kind": "reason", "text": "Hors sujet"}]
    assert reasons[3] == [{"kind": "reason", "text": "Insulte"}]
