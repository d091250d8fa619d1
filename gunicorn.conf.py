"""Production settings for gunicorn: `pip install '.[prod]'`, then `gunicorn -c gunicorn.conf.py`.

Configuration comes from the W365_* environment variables (docs/deploy.md), as for `w365 serve`.
"""
import os

wsgi_app = "plugin.app:create_app()"
bind = os.environ.get("W365_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("W365_WORKERS", "2"))
threads = 8
# Dataverse waits 60 s for a synchronous webhook; the service answers within its 50 s budget.
timeout = 90
graceful_timeout = 60  # bulk runs in progress get time to finish on a restart (worker_exit below)
# Bounded requests: long selections go through `POST /pages/bulk` (the command script switches to it
# past 100 ids), so a request line needs no more than gunicorn's maximum; headers at most 16 KiB;
# bodies are capped at 10 MiB by the app itself.
limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 100
# Access logs name the path only: a query string may carry a webhook key (`?code=`).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss'


def post_worker_init(worker):
    """Start the worker's sweeps: runs whose process died are resumed, stranded post tasks finished."""
    from plugin.api.runs import app_runs

    app_runs(worker.wsgi)


def worker_exit(server, worker):
    """On a stop or restart, let the worker's runs finish within the graceful timeout; a run still going
    then is released (its lease emptied) so that another process resumes it at once."""
    from plugin.api.runs import close_runs

    close_runs(worker.wsgi, timeout=max(float(server.cfg.graceful_timeout) - 5.0, 1.0))


def on_starting(server):
    """Refuse development mode (no authentication) unless every bind and the Dataverse are loopback."""
    from plugin.auth import UnsafeBindError, assert_bind_allowed
    from plugin.config import Config

    config = Config.from_env()
    for address in server.cfg.bind:
        host = address.rsplit(":", 1)[0] if not address.startswith("unix:") else "localhost"
        try:
            assert_bind_allowed(config, host.strip("[]"))
        except UnsafeBindError as exc:
            raise SystemExit(f"w365: {exc}") from exc
