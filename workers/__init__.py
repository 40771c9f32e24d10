"""The GPU and training workers: Celery entry points (tasks.py, training_tasks.py) above the
worker core (core/), which runs jobs and knows nothing of the producer."""
