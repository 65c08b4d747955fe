"""Entry point: `gunicorn app:app`, `celery -A app.celery_app worker|beat`, `flask --app app …`."""

from portal import create_app

app = create_app()
celery_app = app.extensions["celery"]
