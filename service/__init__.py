"""The face identification web service: `service.app.create_app(Config.from_env())` under gunicorn.

Kept empty on purpose: gunicorn.conf.py imports `service.config` in the master, and nothing there
may import prometheus_client before PROMETHEUS_MULTIPROC_DIR is set (the workers inherit it).
"""
