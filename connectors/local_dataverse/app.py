"""The Flask app: Web API routes (auth, latency, faults, counting), `$batch`, `/_admin`, OAuth."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import batch
from .auth import bearer_token, external_base, register_authority
from .entra import SignIn, grants
from .entra_routes import authorize_blueprint
from .errors import GENERIC, INVALID_ARGUMENT, THROTTLED, DataverseFault
from .limits import Limiter, LimitSettings
from .runtime import API_PREFIXES, Faults, Stats
from .service import API_ROOT, ApiRequest, ApiResponse, Headers, Service, error_response
from .store import Store
from .tokens import TokenIssuer

_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
_VERSIONED_ROOT = re.compile(r"/api/data/v9\.[012]/")
# headers of the outer $batch request that also apply to its parts
_INHERITED = ("mscrmcallerid", "callerobjectid")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_PER_RECORD = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


@dataclass
class Runtime:
    """Everything one local Dataverse shares between requests."""

    store: Store
    service: Service
    faults: Faults
    stats: Stats
    tokens: TokenIssuer
    limits: Limiter
    sign_in: SignIn | None = None


def create_app(
    store: Store | None = None,
    *,
    db_path: str = ":memory:",
    latency_ms: float = 0,
    rate_429: float = 0.0,
    rate_503: float = 0.0,
    rate_reset: float = 0.0,
    retry_after_s: int = 1,
    token_lifetime_s: int = 3599,
    seed: int | None = None,
    limits: LimitSettings | None = None,
) -> Flask:
    """The local Dataverse as a Flask app (its Runtime in `app.extensions["local_dataverse"]`)."""
    store = store or Store(db_path)
    stats = Stats()
    runtime = Runtime(
        store,
        Service(store, stats),
        Faults(
            latency_ms=latency_ms,
            rate_429=rate_429,
            rate_503=rate_503,
            rate_reset=rate_reset,
            retry_after_s=retry_after_s,
            seed=seed,
        ),
        stats,
        TokenIssuer(store, token_lifetime_s),
        Limiter(limits),
    )
    runtime.sign_in = SignIn(store, runtime.tokens)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["local_dataverse"] = runtime
    app.before_request(_bounded_request)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    register_authority(app, runtime.tokens, grants(runtime.sign_in))
    app.register_blueprint(authorize_blueprint(runtime.sign_in))
    _register_admin(app, runtime)
    _register_api(app, runtime)
    return app


def _to_flask(resp: ApiResponse) -> Response:
    out = Response(resp.body, status=resp.status, headers=resp.headers)
    if not resp.body and "Content-Type" not in resp.headers:
        del out.headers["Content-Type"]
    return out


MAX_BODY_BYTES = 10 * 1024 * 1024   # bounded requests: a 1,000-operation $batch is far below
MAX_HEADER_BYTES = 16 * 1024


def _bounded_request() -> Response | None:
    """Headers over 16 KiB are refused before any work (431, in Dataverse's error shape)."""
    if sum(len(k) + len(v) for k, v in request.headers.items()) > MAX_HEADER_BYTES:
        fault = DataverseFault(431, INVALID_ARGUMENT, f"The request headers exceed {MAX_HEADER_BYTES} bytes.")
        return _to_flask(error_response(fault))
    return None


def _too_large(_: RequestEntityTooLarge) -> Response:
    fault = DataverseFault(413, INVALID_ARGUMENT, f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    return _to_flask(error_response(fault))


def _register_api(app: Flask, rt: Runtime) -> None:
    def web_api(subpath: str) -> Response:
        body = request.get_data()  # always drain the body (keep-alive connections)
        rt.stats.add("http_requests")
        rt.faults.sleep()
        refused = _injected_fault(rt)
        claims = None
        if refused is None:
            claims = _token_claims(rt)
            refused = _unauthorized(rt) if claims is None else None
        oid = _user_oid(claims)
        user = _user_key(oid, claims)
        if refused is not None:
            return _with_limit_headers(_to_flask(refused), rt, user)
        charge, refusal = rt.limits.admit(user)
        if refusal is not None:
            rt.stats.add("throttled")
            fault = DataverseFault(429, refusal.code, refusal.message,
                                   {"Retry-After": str(refusal.retry_after_s)})
            return _with_limit_headers(_to_flask(error_response(fault)), rt, user)
        exec_ms = 0.0
        try:
            response, operations = _answer(rt, subpath, body, oid)
            exec_ms = operations * rt.limits.settings.op_cost_ms
            rt.stats.add("exec_ms", exec_ms)
            if exec_ms > 0:  # the simulated server work: the caller really waits for it
                time.sleep(exec_ms / 1000)
        finally:
            rt.limits.finish(user, charge, exec_ms)
        return _with_limit_headers(response, rt, user)

    for prefix in API_PREFIXES:
        app.add_url_rule(prefix, f"web_api_root{prefix}", web_api, defaults={"subpath": ""},
                         methods=_METHODS, strict_slashes=False)
        app.add_url_rule(prefix + "/<path:subpath>", f"web_api{prefix}", web_api, methods=_METHODS)


def _answer(rt: Runtime, subpath: str, body: bytes, oid: str | None) -> tuple[Response, int]:
    """The response to one authorized Web API request and the operations it cost."""
    base = request.host_url.rstrip("/")
    headers = Headers(dict(request.headers))
    if oid:
        _act_as(headers, oid)
    if subpath == "$batch" and request.method == "POST":
        return _batch(rt, body, headers, base, oid)
    query = request.query_string.decode("utf-8", "replace")
    req = ApiRequest(request.method, subpath, query, headers, body)
    return _to_flask(rt.service.handle(req, base)), operation_cost(request.method, subpath, body)


def operation_cost(method: str, path: str, body: bytes) -> int:
    """Operations a request costs: one, or one per record of a CreateMultiple/UpdateMultiple."""
    if method.upper() != "POST" or not path.rstrip("/").endswith(_PER_RECORD):
        return 1
    try:
        targets = json.loads(body or b"{}").get("Targets")
    except (ValueError, AttributeError, RecursionError):  # the handler answers the bad body
        return 1
    return max(1, len(targets)) if isinstance(targets, list) else 1


def _user_key(oid: str | None, claims: dict | None) -> str:
    """Whom the request acts as: the token's user, else the impersonated user, else the token's subject."""
    if oid:
        return f"callerobjectid:{oid.lower()}"
    for header in ("MSCRMCallerID", "CallerObjectId"):
        value = (request.headers.get(header) or "").strip().lower()
        if value:
            return f"{header.lower()}:{value}"
    subject = (claims or {}).get("sub") or (claims or {}).get("appid")
    return f"sub:{subject}" if subject else "sub:application"


def _with_limit_headers(response: Response, rt: Runtime, user: str) -> Response:
    response.headers.update(rt.limits.headers(user))
    return response


def _injected_fault(rt: Runtime) -> ApiResponse | None:
    """A 429 or 503 fault for this request, drawn at the configured rates (no work is done)."""
    if rt.faults.roll("rate_429"):
        rt.stats.add("faults_429")
        return error_response(
            DataverseFault(
                429,
                THROTTLED,
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                {"Retry-After": str(rt.faults.retry_after_s)},
            )
        )
    if rt.faults.roll("rate_503"):
        rt.stats.add("faults_503")
        return error_response(
            DataverseFault(
                503, GENERIC, "The service is temporarily unavailable. Please retry the request."
            )
        )
    return None


def _audience_ok(audience: str) -> bool:
    """The token is for this server: its URL as the client sees it (loopback names alike)."""
    try:
        aud = urlsplit(audience.rstrip("/"))
        here = urlsplit(external_base())
        aud_port = aud.port or (443 if aud.scheme == "https" else 80)
        here_port = here.port or (443 if here.scheme == "https" else 80)
    except ValueError:
        return False
    if aud.scheme not in ("http", "https") or aud.path or aud_port != here_port:
        return False
    names = {aud.hostname, here.hostname}
    return len(names) == 1 or names <= _LOOPBACK


def _token_claims(rt: Runtime) -> dict | None:
    """The claims of the request's valid bearer token (`{}` for the development token)."""
    token = bearer_token(request.headers.get("Authorization"))
    return rt.tokens.claims(token, _audience_ok) if token else None


def _user_oid(claims: dict | None) -> str | None:
    """The object id a user's token acts as (an application's token acts as itself)."""
    if not claims or claims.get("idtyp") == "app" or not isinstance(claims.get("oid"), str):
        return None
    return claims["oid"]


def _act_as(headers: Headers, oid: str) -> None:
    """A user's token acts as that user, like `CallerObjectId` (it cannot impersonate)."""
    for name in ("MSCRMCallerID", "CallerObjectId"):
        headers.pop(name, None)
    headers["CallerObjectId"] = oid


def _unauthorized(rt: Runtime) -> ApiResponse:
    """401: no bearer token, or not the development token nor a valid issued token."""
    token = bearer_token(request.headers.get("Authorization"))
    rt.stats.add("unauthorized")
    # real Dataverse answers 401 without an error code; the message says why
    message = (
        "The bearer token is invalid or has expired."
        if token
        else "Authorization header missing: a Bearer token is required."
    )
    resp = error_response(DataverseFault(401, "", message))
    resp.headers["WWW-Authenticate"] = (
        f"Bearer authorization_uri={request.host_url}local-tenant/"
        f"oauth2/authorize, resource_id={request.host_url}"
    )
    return resp


def _batch(rt: Runtime, body: bytes, outer: Headers, base: str, oid: str | None) -> tuple[Response, int]:
    rt.stats.add("batch_requests")
    extra = [0]  # operations beyond one per part: the records of a CreateMultiple/UpdateMultiple part

    def execute(sub: batch.SubRequest) -> batch.SubResponse:
        path, query = _relative(sub.url)
        headers = Headers(dict(sub.headers))
        for name in _INHERITED:
            if name not in headers and outer.get(name):
                headers[name] = outer.get(name)
        if oid:
            _act_as(headers, oid)
        req = ApiRequest(sub.method, path, query, headers, sub.body)
        extra[0] += operation_cost(sub.method, path, sub.body or b"") - 1
        resp = rt.service.handle(req, base, count=False)
        return batch.SubResponse(resp.status, resp.headers, resp.body)

    try:
        reply = batch.handle_batch(
            body,
            outer.get("Content-Type", ""),
            outer.get("Prefer", ""),
            execute,
            rt.store.transaction,
        )
    except batch.BatchFormatError as exc:
        rt.stats.add("operations")  # refused as a whole: one request answered, like a plain one
        return _to_flask(error_response(DataverseFault(400, "0x80060891", str(exc)))), 1
    except DataverseFault as fault:
        rt.stats.add("operations")
        return _to_flask(error_response(fault)), 1
    # as many operations as parts, including those a failure kept from running
    rt.stats.add("operations", reply.operations)
    content, content_type = reply
    return Response(
        content,
        status=getattr(reply, "status", 200),
        headers={
            "Content-Type": content_type,
            "OData-Version": "4.0",
            **getattr(reply, "headers", {}),
        },
    ), reply.operations + extra[0]


def _relative(url: str) -> tuple[str, str]:
    """A part's URL (absolute, `/api/data/v9.2/...` or relative to the root) -> (path, query)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    match = _VERSIONED_ROOT.search(path)
    if match:
        path = path[match.end():]
    return path.lstrip("/"), parts.query


def _register_admin(app: Flask, rt: Runtime) -> None:
    @app.get("/")
    def index():
        base = request.host_url.rstrip("/")
        return jsonify(
            {
                "service": "local Dataverse (Web API v9.2)",
                "api": base + API_ROOT,
                "authority": f"{base}/local-tenant",
                "client_id": "local-client",
                "development_token": "local-dev-token",
                "admin": [f"{base}/_admin/stats", f"{base}/_admin/faults",
                          f"{base}/_admin/tokens", f"{base}/_admin/limits"],
            }
        )

    @app.get("/_admin/stats")
    def admin_stats():
        return jsonify({**rt.stats.snapshot(), "faults": rt.faults.snapshot()})

    @app.post("/_admin/stats/reset")
    def admin_stats_reset():
        rt.stats.reset()
        return jsonify(rt.stats.snapshot())

    @app.get("/_admin/faults")
    def admin_faults_get():
        return jsonify(rt.faults.snapshot())

    @app.post("/_admin/faults")
    def admin_faults():
        try:
            changes = json.loads(request.get_data() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            return jsonify(rt.faults.update(**changes))
        except ValueError as exc:
            return jsonify({"error": {"code": "bad_faults", "message": str(exc)}}), 400

    @app.get("/_admin/limits")
    def admin_limits_get():
        return jsonify(rt.limits.settings.as_json())

    @app.post("/_admin/limits")
    def admin_limits():
        try:
            changes = json.loads(request.get_data() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            return jsonify(rt.limits.update(**changes).as_json())
        except ValueError as exc:
            return jsonify({"error": {"code": "bad_limits", "message": str(exc)}}), 400
