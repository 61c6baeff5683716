"""WSGI entry point: `gunicorn -c service/gunicorn.conf.py service.wsgi:app`.

Gunicorn imports this module in each worker after forking (no preload), so the app, its gRPC
channel and its model are made per worker.
"""

import logging

from service.app import create_app
from service.config import Config

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
app = create_app(Config.from_env())
