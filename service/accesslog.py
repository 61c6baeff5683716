"""Gunicorn's access log as one JSON object per line."""

from __future__ import annotations

import json
import os
import time

from gunicorn.glogging import Logger


class JsonAccessLogger(Logger):
    """Writes access lines as JSON; everything else is gunicorn's own logger."""

    def access(self, resp, req, environ, request_time) -> None:
        if not self.cfg.accesslog:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "remote": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000.0, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),  # the worker that answered
        }
        self.access_log.info(json.dumps(entry))
