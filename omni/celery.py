"""Celery application.

Without ``CELERY_BROKER_URL`` the settings make every task run in-process (eager), so the demo
needs no broker. With a broker configured, run ``celery -A omni worker -B``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

app = Celery("omni")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
