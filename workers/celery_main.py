"""The Celery app for Celery's own command line, built from the settings when it is imported:

    celery -A workers.celery_main inspect ping -d gpu@HOST     (the containers' health checks)
    celery -A workers.celery_main control cancel_consumer gpu -d gpu@HOST

``upscaler worker`` and ``upscaler beat`` build theirs themselves (cli/service_cmd.py).
"""

from upscaler.settings import get_settings
from workers.core.celery_app import create_app

app = create_app(get_settings())
