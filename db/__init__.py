"""SQL: the source of truth for batches, jobs and training runs (SQLAlchemy 2 + Alembic).

Arrives with the job pipeline (issue #3).
"""
