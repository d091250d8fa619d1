"""`LocalDataverse`: the app on a threaded werkzeug server (a daemon thread, or the foreground)."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import Runtime, create_app
from .auth import TENANT
from .runtime import is_api_path
from .service import API_ROOT
from .store import Store
from .tls import ensure_tls_files


class _Handler(WSGIRequestHandler):
    """Keep-alive HTTP/1.1; a `rate_reset` fault drops the connection before any work is done."""

    protocol_version = "HTTP/1.1"
    runtime: Runtime

    def run_wsgi(self) -> None:
        rt = self.runtime
        if is_api_path(self.path.split("?", 1)[0]) and rt.faults.roll("rate_reset"):
            rt.stats.add("http_requests")
            rt.stats.add("resets")
            self.close_connection = True
            # SO_LINGER 0: close() sends a TCP reset instead of a clean FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        super().run_wsgi()

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self.server, "log_requests", False):
            super().log_request(*args, **kwargs)


def default_tls_dir(db_path: str) -> Path:
    """Where the certificates live: `tls/` beside a database file, else `~/.w365/tls`."""
    if db_path == ":memory:" or db_path.startswith("file:"):
        return Path.home() / ".w365" / "tls"
    return Path(db_path).expanduser().resolve().parent / "tls"


class LocalDataverse:
    """A local Dataverse on 127.0.0.1 (port 0: a free port)."""

    def __init__(
        self,
        db_path: str = ":memory:",
        port: int = 0,
        latency_ms: float = 0,
        *,
        host: str = "127.0.0.1",
        rate_429: float = 0.0,
        rate_503: float = 0.0,
        rate_reset: float = 0.0,
        retry_after_s: int = 1,
        token_lifetime_s: int = 3599,
        seed: int | None = None,
        log_requests: bool = False,
        template: str | None = None,
        tls: bool = False,
        tls_dir: str | None = None,
        limits: bool = False,
        limit_window_s: float = 300,
        limit_requests: int = 6000,
        limit_exec_ms: int = 1_200_000,
        limit_concurrent: int = 52,
        op_cost_ms: float = 0,
    ):
        self.store = Store(db_path, template=template)
        # https: the CA and server certificate live beside the database (or in `tls_dir`)
        self.tls = ensure_tls_files(tls_dir or default_tls_dir(db_path)) if tls else None
        self.app = create_app(
            self.store,
            latency_ms=latency_ms,
            rate_429=rate_429,
            rate_503=rate_503,
            rate_reset=rate_reset,
            retry_after_s=retry_after_s,
            token_lifetime_s=token_lifetime_s,
            seed=seed,
        )
        self.runtime: Runtime = self.app.extensions["local_dataverse"]
        self.set_limits(enabled=limits, window_s=limit_window_s, requests=limit_requests,
                        exec_ms=limit_exec_ms, concurrent=limit_concurrent, op_cost_ms=op_cost_ms)
        self.runtime: Runtime = self.app.extensions["local_dataverse"]
        self._host, self._port = host, port
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> "LocalDataverse":
        """Open the listening socket (so `url` is known) without serving yet; returns self."""
        if self._server is None:
            self._make_server()
        return self

    def _make_server(self) -> BaseWSGIServer:
        handler = type("LocalDataverseHandler", (_Handler,), {"runtime": self.runtime})
        server = make_server(
            self._host,
            self._port,
            self.app,
            threaded=True,
            request_handler=handler,
            ssl_context=self.tls.server_context() if self.tls else None,
        )
        server.daemon_threads = True
        server.log_requests = self._log_requests  # type: ignore[attr-defined]
        self._server = server
        return server

    def start(self) -> "LocalDataverse":
        """Serve in a daemon thread; returns self."""
        server = self.bind()._server
        assert server is not None
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-dataverse",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        server = self.bind()._server
        assert server is not None
        try:
            server.serve_forever()
        finally:
            server.server_close()
            self.store.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the local Dataverse is not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` (`https://` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self._host}:{self.port}"

    @property
    def ca_path(self) -> str | None:
        """The CA certificate file a client trusts (REQUESTS_CA_BUNDLE), with TLS."""
        return str(self.tls.ca) if self.tls else None

    @property
    def api_url(self) -> str:
        """The Web API root, `<url>/api/data/v9.2/`."""
        return self.url + API_ROOT

    @property
    def authority(self) -> str:
        """The msal authority (client `local-client`, secret `local-secret`)."""
        return f"{self.url}/{TENANT}"

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Merge fault settings: latency_ms, rate_429, rate_503, rate_reset, retry_after_s."""
        return self.runtime.faults.update(**settings)

    def set_limits(self, **settings: Any) -> dict[str, Any]:
        """Merge limit settings (enabled, window_s, requests, exec_ms, concurrent, op_cost_ms); a fresh window."""
        return self.runtime.limits.update(**settings).as_json()

    def limits(self) -> dict[str, Any]:
        """The limit settings in force."""
        return self.runtime.limits.settings.as_json()

    def stats(self) -> dict[str, Any]:
        """The request counters."""
        return self.runtime.stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.runtime.stats.reset()

    def stop(self) -> None:
        """Stop serving and close the database."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()

    def __enter__(self) -> "LocalDataverse":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
