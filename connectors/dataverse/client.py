"""DataverseClient: one requests.Session, one request method, typed errors, paging generators."""
from __future__ import annotations

import copy
import inspect
import logging
import time
import uuid
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import SplitResult, urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import odata
from . import operations as ops
from .batch import Batch, BatchResult, ChangesetResult, parse_batch_response
from .errors import (BatchTooLargeError, DataverseConnectionError, DataverseError, error_from_parts,
                     parse_retry_after)
from .jsonutil import dumps, loads
from .operations import Operation
from .retry import RETRY_STATUSES, RetryPolicy, is_retryable_exception

log = logging.getLogger("connectors.dataverse")

API_PATH = "/api/data/v9.2/"
FORMATTED_VALUES = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
MAX_BATCH_OPERATIONS = 1000
_UNSET: Any = object()
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
Columns = str | Iterable[str] | None  # "a,b" or ["a", "b"]
Records = Iterable[Mapping[str, Any]]


class DataverseResponse(requests.Response):
    """A requests.Response whose `.json()` parses numbers as Decimal."""

    def json(self, **kwargs: Any) -> Any:
        """The body as JSON, non-integer numbers as Decimal."""
        kwargs.setdefault("parse_float", Decimal)
        return super().json(**kwargs)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to log: credentials replaced."""
    return {k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


class _Redacted:
    """Formats headers redacted, only when a log record is actually rendered."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def __str__(self) -> str:
        return str(redact_headers(self.headers))


def _prefer(*values: str | None) -> dict[str, str]:
    present = [v for v in values if v]
    return {"Prefer": ",".join(present)} if present else {}


class DataverseClient:
    """Dataverse Web API v9.2 client (see docs/architecture.md, "Connector")."""

    def __init__(self, url: str, *, token_provider: Callable[..., str],
                 retry_budget_s: float = 20.0, timeout_s: float = 60.0,
                 caller_id: str | None = None, caller_object_id: str | None = None,
                 correlation_id: str | None = None, session: requests.Session | None = None,
                 pool_size: int = 8, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, backoff_base_s: float = 0.5,
                 backoff_cap_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_url = self.url + API_PATH
        self.token_provider = token_provider
        self.timeout_s = timeout_s
        self.caller_id = caller_id
        self.caller_object_id = caller_object_id
        self.correlation_id = correlation_id
        self.retry = RetryPolicy(budget_s=retry_budget_s, backoff_base_s=backoff_base_s,
                                 backoff_cap_s=backoff_cap_s, sleep=sleep, clock=clock)
        self.session = session or self._new_session(pool_size)

    @staticmethod
    def _new_session(pool_size: int) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1), max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
        })
        return session

    @classmethod
    def from_config(cls, config: Any, **options: Any) -> "DataverseClient":
        """A client from a `plugin.config.Config` (duck-typed: no plugin import)."""
        from .auth import token_provider

        provider = token_provider(
            resource_url=config.dataverse_url,
            tenant_id=config.tenant_id,
            client_id=config.client_id,
            client_secret=config.client_secret,
            cert_path=config.client_cert_path,
            thumbprint=config.client_cert_thumbprint,
            authority=getattr(config, "effective_authority", None) or config.authority,
            fixed_token=config.dataverse_token,
        )
        options.setdefault("retry_budget_s", getattr(config, "interactive_retry_budget_s", 20.0))
        return cls(config.dataverse_url, token_provider=provider, **options)

    @property
    def retry_budget_s(self) -> float:
        """Total time retries of one call may take."""
        return self.retry.budget_s

    def with_options(self, *, caller_id: str | None = _UNSET, caller_object_id: str | None = _UNSET,
                     correlation_id: str | None = _UNSET, retry_budget_s: float | None = None,
                     timeout_s: float | None = None) -> "DataverseClient":
        """A copy sharing session and token cache; omitted options are kept, None clears an id."""
        clone = copy.copy(self)
        clone.retry = copy.copy(self.retry)
        if caller_id is not _UNSET:
            clone.caller_id = caller_id
        if caller_object_id is not _UNSET:
            clone.caller_object_id = caller_object_id
        if correlation_id is not _UNSET:
            clone.correlation_id = correlation_id
        if retry_budget_s is not None:
            clone.retry.budget_s = retry_budget_s
        if timeout_s is not None:
            clone.timeout_s = timeout_s
        return clone

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def __enter__(self) -> "DataverseClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the one request method -------------------------------------------------------------

    def url_for(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> str:
        """Absolute URL: a path is relative to the API root; an absolute URL is kept verbatim."""
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
        else:
            url = self.api_url + odata.quote_path(path_or_url.lstrip("/"))
        query = odata.query_string(params)
        if query:
            url += ("&" if "?" in url else "?") + query
        return url

    def _headers(self, request_id: str, token: str,
                 extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}", "x-ms-client-request-id": request_id}
        if self.caller_id:
            headers["MSCRMCallerID"] = str(self.caller_id)
        if self.caller_object_id:
            headers["CallerObjectId"] = str(self.caller_object_id)
        if self.correlation_id:
            headers["x-ms-correlation-request-id"] = str(self.correlation_id)
        headers.update(extra or {})
        return headers

    def _token(self, force_refresh: bool = False) -> str:
        if force_refresh and _accepts_force_refresh(self.token_provider):
            return self.token_provider(force_refresh=True)
        return self.token_provider()

    def request(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, data: str | bytes | None = None,
                headers: Mapping[str, str] | None = None,
                raise_for_status: bool = True) -> requests.Response:
        """Send one Web API request with auth, impersonation, retries and typed errors.

        Retries 429 (Retry-After, else backoff), 502/503/504 and connection failures while the
        retry budget lasts; a 401 is retried once with a fresh token. A status >= 400 raises the
        matching `errors` class unless `raise_for_status=False`.
        """
        method = method.upper()
        url = self.url_for(path_or_url, params)
        body = dumps(json).encode("utf-8") if json is not None else data
        request_id = str(uuid.uuid4())
        deadline = self.retry.deadline()
        attempt = 0
        refreshed = False
        token = self._token()
        while True:
            try:
                response = self._send_once(method, url, body,
                                           self._headers(request_id, token, headers))
            except requests.RequestException as exc:
                delay = self.retry.backoff(attempt)
                if is_retryable_exception(exc, method) and self.retry.wait(delay, deadline):
                    attempt += 1
                    continue
                raise DataverseConnectionError(f"{method} {url}: {type(exc).__name__}: {exc}",
                                               request_id=request_id, retry_after=delay) from exc
            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                token = self._token(force_refresh=True)
                continue
            # A multipart answer means the server did (part of) the work: never resent.
            if status in RETRY_STATUSES and not _is_multipart(response):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = self.retry.delay(attempt, retry_after)
                if self.retry.wait(delay, deadline):
                    attempt += 1
                    continue
                error = self.error_from_response(response, request_id)
                error.retry_after = delay
                raise error
            if status >= 400 and raise_for_status:
                raise self.error_from_response(response, request_id)
            return response

    def _send_once(self, method: str, url: str, body: str | bytes | None,
                   headers: dict[str, str]) -> requests.Response:
        started = time.perf_counter()
        request_id = headers["x-ms-client-request-id"]
        try:
            response = self.session.request(method, url, data=body, headers=headers,
                                            timeout=self.timeout_s)
        except requests.RequestException as exc:
            log.debug("%s %s failed: %s (request %s)", method, url, type(exc).__name__, request_id)
            raise
        response.__class__ = DataverseResponse
        log.debug("%s %s -> %s in %.0f ms (request %s) headers=%s", method, url,
                  response.status_code, (time.perf_counter() - started) * 1000, request_id,
                  _Redacted(headers))
        return response

    @staticmethod
    def error_from_response(response: requests.Response,
                            request_id: str | None = None) -> DataverseError:
        """The typed error for a failed response."""
        try:
            body = loads(response.content) if response.content else None
        except ValueError:
            body = None
        return error_from_parts(response.status_code, body, response.headers, response.text,
                                request_id)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        return loads(response.content) if response.content else None

    # -- reads ------------------------------------------------------------------------------

    def get(self, entity_set: str, id: Any, *, select: Columns = None, expand: Columns = None,
            formatted: bool = False) -> dict:
        """One row by id (or alternate-key dict), with `@odata.etag`."""
        params = {"$select": odata.comma_list(select), "$expand": odata.comma_list(expand)}
        headers = _prefer(FORMATTED_VALUES if formatted else None)
        return self._json(self.request("GET", odata.entity_path(entity_set, id), params=params,
                                       headers=headers))

    def get_by_key(self, entity_set: str, keys: Mapping[str, Any], *,
                   select: Columns = None) -> dict:
        """One row by alternate key: `entityset(k1=v1,k2=v2)`."""
        return self.get(entity_set, dict(keys), select=select)

    def query(self, entity_set: str, *, select: Columns = None, filter: str | None = None,
              orderby: Columns = None, top: int | None = None, expand: Columns = None,
              page_size: int | None = None, formatted: bool = False) -> Iterator[dict]:
        """Rows of a query across `@odata.nextLink` pages (followed verbatim), lazily."""
        params = {"$select": odata.comma_list(select), "$filter": filter or None,
                  "$orderby": odata.comma_list(orderby), "$top": top,
                  "$expand": odata.comma_list(expand)}
        page = f"odata.maxpagesize={int(page_size)}" if page_size and top is None else None
        headers = _prefer(FORMATTED_VALUES if formatted else None, page)
        url: str | None = self.url_for(entity_set, params)
        seen: set[str] = set()
        while url:
            payload = self._json(self.request("GET", url, headers=headers)) or {}
            yield from payload.get("value", [])
            next_link = payload.get("@odata.nextLink")
            if next_link and next_link in seen:
                raise DataverseError(f"paging loop: nextLink repeated: {next_link}")
            if next_link and not self._is_api_url(next_link):
                # the bearer token goes wherever the link points: only to this org's API
                raise DataverseError(f"nextLink outside {self.api_url}: {next_link}")
            if next_link:
                seen.add(next_link)
            url = next_link

    def _is_api_url(self, url: str) -> bool:
        """True for an absolute URL under this client's API root (same scheme, host and port)."""
        def origin(parts: SplitResult) -> tuple[str, str | None, int | None]:
            default = {"http": 80, "https": 443}.get(parts.scheme.lower())
            return parts.scheme.lower(), parts.hostname, parts.port or default

        try:
            link, root = urlsplit(url), urlsplit(self.api_url)
            return origin(link) == origin(root) and link.path.startswith(root.path)
        except ValueError:  # an invalid port
            return False

    def query_in(self, entity_set: str, column: str, values: Iterable[Any], *,
                 select: Columns = None, filter: str | None = None, orderby: Columns = None,
                 expand: Columns = None, chunk_size: int = 100, page_size: int | None = None,
                 formatted: bool = False) -> Iterator[dict]:
        """Rows whose `column` is in `values`: one `Microsoft.Dynamics.CRM.In` query per chunk.

        Chunks keep URLs short; `orderby` holds within a chunk; duplicate values are sent once.
        """
        unique = list(dict.fromkeys(values))
        size = max(chunk_size, 1)
        for start in range(0, len(unique), size):
            chunk_filter = odata.and_(odata.in_(column, unique[start:start + size]), filter)
            yield from self.query(entity_set, select=select, filter=chunk_filter, orderby=orderby,
                                  expand=expand, page_size=page_size, formatted=formatted)

    # -- writes -----------------------------------------------------------------------------

    def send(self, operation: Operation) -> requests.Response:
        """Send a prepared `operations.Operation` through `request()`."""
        return self.request(operation.method, operation.path, params=operation.params,
                            json=operation.body, headers=operation.headers)

    def create(self, entity_set: str, record: Mapping[str, Any], *,
               return_representation: bool = False, select: Columns = None) -> Any:
        """Create a row: its id (`OData-EntityId`), or the created row (`return_representation`)."""
        response = self.send(ops.create(entity_set, record,
                                        return_representation=return_representation, select=select))
        return self._json(response) if return_representation else self._id_from(response)

    def _id_from(self, response: requests.Response, fallback: str | None = None) -> str:
        for header in ("OData-EntityId", "Location"):
            found = odata.entity_id_from_url(response.headers.get(header))
            if found:
                return found
        body = self._json(response) if response.content else None
        if isinstance(body, Mapping):
            found = odata.entity_id_from_url(body.get("@odata.id"))
            if found:
                return found
        if fallback:
            return fallback
        raise DataverseError(f"no row id in the answer to {response.request.method} {response.url}",
                             status=response.status_code)

    def update(self, entity_set: str, id: Any, changes: Mapping[str, Any], *,
               etag: str | None = None) -> None:
        """PATCH a row: `If-Match: <etag>` (stale -> ConcurrencyError), else `If-Match: *`."""
        self.send(ops.update(entity_set, id, changes, etag=etag))

    def upsert(self, entity_set: str, id_or_keys: Any, record: Mapping[str, Any], *,
               only_create: bool = False, only_update: bool = False) -> str:
        """PATCH to an id or alternate-key URL (create or update); returns the row id.

        `only_create` -> `If-None-Match: *` (existing row -> 412), `only_update` -> `If-Match: *`
        (missing row -> 404).
        """
        response = self.send(ops.upsert(entity_set, id_or_keys, record, only_create=only_create,
                                        only_update=only_update))
        fallback = None if isinstance(id_or_keys, Mapping) else str(id_or_keys).lower()
        return self._id_from(response, fallback)

    def delete(self, entity_set: str, id: Any, *, etag: str | None = None) -> None:
        """DELETE a row (`If-Match: <etag>` when given)."""
        self.send(ops.delete(entity_set, id, etag=etag))

    def create_multiple(self, entity_set: str, logical_name: str, records: Records) -> list[str]:
        """CreateMultiple: all rows in one all-or-nothing call; their ids in order."""
        operation = ops.bulk(entity_set, "CreateMultiple", logical_name, records)
        if not operation.body["Targets"]:
            return []
        return [str(i).lower() for i in (self._json(self.send(operation)) or {}).get("Ids", [])]

    def update_multiple(self, entity_set: str, logical_name: str, records: Records) -> None:
        """UpdateMultiple: every record carries its primary key; all or nothing."""
        operation = ops.bulk(entity_set, "UpdateMultiple", logical_name, records)
        if operation.body["Targets"]:
            self.send(operation)

    def call(self, name: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """POST an unbound action (`/<name>`) and return its JSON response (None for 204)."""
        return self._json(self.request("POST", name, json=dict(parameters or {})))

    # -- $batch -----------------------------------------------------------------------------

    def execute_batch(self, batch: Batch, *, continue_on_error: bool = False) -> BatchResult:
        """Send a `$batch`; the whole batch is retried on 429/503/reset (never half-applied)."""
        if len(batch) > MAX_BATCH_OPERATIONS:
            raise BatchTooLargeError(f"{len(batch)} operations in one $batch; the limit is "
                                     f"{MAX_BATCH_OPERATIONS}: split it")
        if not len(batch):
            return BatchResult([ChangesetResult(c.tag, True, None, []) for c in batch.changesets],
                               [])
        body, content_type = batch.render(API_PATH)
        headers = {"Content-Type": content_type}
        headers.update(_prefer("odata.continue-on-error" if continue_on_error else None))
        response = self.request("POST", "$batch", data=body, headers=headers,
                                raise_for_status=False)
        if not _is_multipart(response):
            if response.status_code >= 400:
                raise self.error_from_response(response)
            raise DataverseError(f"$batch answered {response.status_code} without a multipart body",
                                 status=response.status_code)
        return parse_batch_response(batch, response.headers["Content-Type"], response.content)


def _accepts_force_refresh(provider: Callable[..., str]) -> bool:
    try:
        parameters = inspect.signature(provider).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "force_refresh" or p.kind is p.VAR_KEYWORD for p in parameters)


def _is_multipart(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").lower().startswith("multipart/")
