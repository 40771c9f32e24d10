"""The SQL database, the source of truth: models, sessions, migrations, job state transitions."""
