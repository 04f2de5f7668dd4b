"""Vigie's domain core: settings, services, storage and migrations, the domain vocabulary, policy and word lists,
ingest, decisions, the outbox of decided events, the reconciler, and every queue key, queue name, TTL and job name.

The dependency rule (docs/architecture.md; checked by tests/test_architecture.py with import-linter): ``service/``
(the Flask web side) and ``workers/`` (rq jobs, the worker process, the model) both import the core and never each
other; the core imports neither of them, nor Flask.
"""
