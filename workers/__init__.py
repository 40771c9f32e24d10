"""The Celery app, its queues (gpu, training) and tasks: the glue around the inference engine.

Arrives with the job pipeline (issue #3).
"""
