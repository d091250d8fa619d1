"""Production settings for gunicorn: `pip install '.[prod]'`, then `gunicorn -c gunicorn.conf.py`.

Configuration comes from the W365_* environment variables (DESIGN §10), as for `w365 serve`.
"""
import os

wsgi_app = "plugin.app:create_app()"
bind = os.environ.get("W365_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("W365_WORKERS", "2"))
threads = 8
# Dataverse waits 60 s for a synchronous webhook; the service answers within its 50 s budget.
timeout = 90
graceful_timeout = 60  # bulk runs in progress get time to finish on a restart
# `/pages/bulk?ids=…` for hundreds of selected contracts is far longer than the 4094-byte default.
limit_request_line = 0
