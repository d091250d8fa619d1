"""The Web API itself: one request (plain or a `$batch` part) -> one response, framework-free."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from .errors import (
    DUPLICATE_RECORD,
    CONCURRENCY_MISMATCH,
    GENERIC,
    DataverseFault,
    bad_payload,
    bad_request,
    bad_segment,
    not_found,
)
from .jsonout import loads_body
from .responses import (  # noqa: F401 (Headers: re-exported for app.py)
    ApiRequest, ApiResponse, Headers, error_response, json_response,
)
from .platform_routes import is_row_segment, route_root, route_row_segment
from .query import COUNT_LIMIT, MAX_PAGE_SIZE, Annotations, Reader, etag
from .runtime import Stats
from .store import Store
from .schema import Table
from .urls import (
    Resource, not_implemented, parse_options, parse_prefer, parse_query_string, parse_resource,
)
from .values import canonical_guid
from .writes import WriteContext, create, delete, find, resolve_key, update

_log = logging.getLogger(__name__)
API_ROOT = "/api/data/v9.2/"
APP_USER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "local-dataverse:application-user"))
ORGANIZATION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "local-dataverse:organization"))
BUSINESS_UNIT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "local-dataverse:business-unit"))
_CRM = "Microsoft.Dynamics.CRM."
_CREATE_MULTIPLE = "Microsoft.Dynamics.CRM.CreateMultiple"
_UPDATE_MULTIPLE = "Microsoft.Dynamics.CRM.UpdateMultiple"
_UPSERT_MULTIPLE = "Microsoft.Dynamics.CRM.UpsertMultiple"
_MULTIPLE = (_CREATE_MULTIPLE, _UPDATE_MULTIPLE, _UPSERT_MULTIPLE)
# Dataverse messages clients call that the local Dataverse does not implement (501, not 404)
UNIMPLEMENTED_MESSAGES = frozenset({
    "BulkDelete", "RetrieveTotalRecordCount", "RetrieveVersion", "RetrieveAllEntities",
    "RetrieveEntity", "RetrieveMetadataChanges", "ExecuteWorkflow", "InitializeFrom", "Merge",
    "GrantAccess", "RevokeAccess", "PublishXml", "PublishAllXml", "CalculateRollupField",
    "RetrieveUserPrivileges", "RetrieveRolePrivilegesRole", "ReplacePrivilegesRole",
})


@dataclass
class _Call:
    """One request being answered: the request, its parsed options and `Prefer`, the base URL."""

    req: ApiRequest
    base: str
    options: dict[str, str]
    prefer: dict[str, str]

    def reader(self, store: Store) -> Reader:
        aliases = {k: v for k, v in self.options.items() if k.startswith("@")}
        return Reader(store, Annotations(self.prefer.get("odata.include-annotations")), aliases)

    def context_url(self, table: Table, suffix: str = "") -> str:
        return f"{self.base}{API_ROOT}$metadata#{table.entity_set}{suffix}"

    def applied(self, page_size: int | None = None) -> dict[str, str]:
        """The `Preference-Applied` header for what this answer honours."""
        applied = []
        if "odata.include-annotations" in self.prefer:
            applied.append(
                f'odata.include-annotations="{self.prefer["odata.include-annotations"]}"'
            )
        if page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        return {"Preference-Applied": ",".join(applied)} if applied else {}

    def header(self, name: str) -> str:
        return (self.req.headers.get(name) or "").strip()


class Service:
    """Routes Web API requests to reads and writes on one store."""

    def __init__(self, store: Store, stats: Stats):
        self.store = store
        self.stats = stats

    def handle(self, req: ApiRequest, base_url: str, *, count: bool = True) -> ApiResponse:
        """Answer one request; errors become Dataverse error bodies.

        `count`: add one operation (a `$batch` counts its parts itself, run or not).
        """
        if count:
            self.stats.add("operations")
        try:
            return self._dispatch(req, base_url.rstrip("/"))
        except DataverseFault as fault:
            return error_response(fault)
        except Exception as exc:  # a bug: answer Dataverse's generic failure, and log it
            _log.exception("local Dataverse failed on %s %s", req.method, req.path)
            self.stats.add("server_errors")
            return error_response(
                DataverseFault(500, GENERIC, f"An unexpected error occurred: {exc!r}")
            )

    # ----- routing ------------------------------------------------------------------------
    def _dispatch(self, req: ApiRequest, base: str) -> ApiResponse:
        res = parse_resource(req.path)
        method = req.method.upper()
        call = _Call(
            req, base, parse_query_string(req.query), parse_prefer(req.headers.get("Prefer"))
        )
        if res.name == "WhoAmI" and res.key in (None, "") and res.rest is None and method == "GET":
            return self._who_am_i(call)
        if res.name == "$batch":
            raise bad_request("A $batch request cannot be nested inside a $batch.")
        answered = route_root(self, call, res, method)
        if answered is not None:
            return answered
        table = self.store.tables.get(res.name)
        if table is None:
            if res.name.startswith(_CRM) or res.key == "" or res.name in UNIMPLEMENTED_MESSAGES:
                # `Name()` is a function call; well-known Dataverse messages are refused by name
                raise not_implemented(f"The function or action '{res.name}'")
            raise bad_segment(res.name)
        if res.key is None:
            if res.rest in _MULTIPLE and method == "POST":
                return self._multiple(call, table, res.rest)
            if res.rest == "$count" and method == "GET":
                return self._count(call, table)
            if res.rest is not None:
                raise bad_segment(res.rest)
            if method == "GET":
                return self._read_collection(call, table)
            if method == "POST":
                return self._create(call, table)
            raise _not_allowed(method, res)
        ident, key = resolve_key(table, res.key)
        if res.rest is not None:
            if res.rest not in table.collections and is_row_segment(table, res.rest):
                found = self._existing(table, ident, key)
                return route_row_segment(self, call, table, found, res.rest, method)
            if res.rest not in table.collections:
                raise bad_segment(res.rest)
            if method != "GET":
                raise _not_allowed(method, res)
            return self._read_related(call, table, self._existing(table, ident, key), res.rest)
        if method == "GET":
            return self._read_one(call, table, self._existing(table, ident, key))
        if method == "PATCH":
            return self._patch(call, table, ident, key)
        if method == "DELETE":
            return self._delete(call, table, ident, key)
        raise _not_allowed(method, res)

    def _existing(self, table: Table, ident: str | None, key: dict[str, Any] | None) -> str:
        """The id of the row a key addresses (404 if there is none)."""
        found = find(self.store, table, ident, key)
        if found is None:
            raise not_found(table.logical_name, ident or str(key))
        return found

    def _caller(self, req: ApiRequest) -> dict[str, Any] | None:
        """The impersonated systemuser (MSCRMCallerID/CallerObjectId), or None (403 if unknown)."""
        users = self.store.tables["systemusers"]
        for header, column in (
            ("MSCRMCallerID", "systemuserid"),
            ("CallerObjectId", "azureactivedirectoryobjectid"),
        ):
            value = req.headers.get(header)
            if not value:
                continue
            guid = canonical_guid(value.strip())
            found = self.store.find_by_key(users, {column: guid}) if guid else None
            if found is None:
                raise DataverseFault(
                    403,
                    "0x80040217",
                    f"The user with {header} = {value} does not exist in this "
                    "organization, so the request cannot be made on their behalf.",
                )
            return self.store.fetch(users, found)
        return None

    def _context(self, call: _Call) -> WriteContext:
        return WriteContext(self.store, self._caller(call.req))

    # ----- reads --------------------------------------------------------------------------
    def _read_collection(
        self,
        call: _Call,
        table: Table,
        where: tuple[str, list] | None = None,
        path: str | None = None,
    ) -> ApiResponse:
        self._caller(call.req)
        opts = parse_options(call.options)
        page_size = None
        if "odata.maxpagesize" in call.prefer and opts.top is None:
            try:
                page_size = max(1, min(int(call.prefer["odata.maxpagesize"]), MAX_PAGE_SIZE))
            except ValueError:
                raise bad_request(
                    f"Invalid odata.maxpagesize '{call.prefer['odata.maxpagesize']}'."
                ) from None
        page = call.reader(self.store).page(
            table,
            opts,
            page_size=page_size or MAX_PAGE_SIZE,
            skiptoken=call.options.get("$skiptoken"),
            where=where,
        )
        select = f"({','.join(opts.select)})" if opts.select else ""
        body: dict[str, Any] = {"@odata.context": call.context_url(table, select)}
        if page.count is not None:  # Dataverse stops counting at 5000
            exceeded = page.count > COUNT_LIMIT
            body["@odata.count"] = min(page.count, COUNT_LIMIT)
            body[f"@{_CRM}totalrecordcount"] = -1 if exceeded else page.count
            body[f"@{_CRM}totalrecordcountlimitexceeded"] = exceeded
        body["value"] = page.rows
        if page.skiptoken:
            following = {k: v for k, v in call.options.items() if k != "$skiptoken"}
            following["$skiptoken"] = page.skiptoken
            body["@odata.nextLink"] = (
                f"{call.base}{API_ROOT}{path or table.entity_set}?"
                + urlencode(following, quote_via=quote, safe="$,()'@")
            )
        return json_response(200, body, call.applied(page_size))

    def _count(self, call: _Call, table: Table) -> ApiResponse:
        """`<set>/$count`: the number of matching rows as plain text (at most 5000)."""
        self._caller(call.req)
        total = call.reader(self.store).count_matching(table, parse_options(call.options))
        body = str(min(total, COUNT_LIMIT)).encode()
        return ApiResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, body)

    def _read_one(self, call: _Call, table: Table, ident: str) -> ApiResponse:
        self._caller(call.req)
        row = call.reader(self.store).one(table, ident, parse_options(call.options))
        if row is None:
            raise not_found(table.logical_name, ident)
        tag = row["@odata.etag"]
        if (
            call.header("If-None-Match") == tag
            and "$expand" not in call.options
            and not call.prefer
        ):
            return ApiResponse(304, {"ETag": tag, "OData-Version": "4.0"})
        row = {"@odata.context": call.context_url(table, "/$entity"), **row}
        return json_response(200, row, {"ETag": tag, **call.applied()})

    def _read_related(self, call: _Call, table: Table, ident: str, nav: str) -> ApiResponse:
        collection = table.collections[nav]
        return self._read_collection(
            call,
            self.store.tables[collection.target],
            where=(f't."{collection.fk}" = ?', [ident]),
            path=f"{table.entity_set}({ident})/{collection.name}",
        )

    def _who_am_i(self, call: _Call) -> ApiResponse:
        caller = self._caller(call.req)
        return json_response(
            200,
            {
                "@odata.context": f"{call.base}{API_ROOT}$metadata#{_CRM}WhoAmIResponse",
                "BusinessUnitId": BUSINESS_UNIT_ID,
                "OrganizationId": ORGANIZATION_ID,
                "UserId": caller["systemuserid"] if caller else APP_USER_ID,
            },
        )

    # ----- writes -------------------------------------------------------------------------
    def _written(self, call: _Call, table: Table, ident: str, status_with_body: int) -> ApiResponse:
        """204 + OData-EntityId, or the row itself with `Prefer: return=representation`."""
        headers = {"OData-EntityId": f"{call.base}{API_ROOT}{table.entity_set}({ident})"}
        if call.prefer.get("return") != "representation":
            return ApiResponse(204, {"OData-Version": "4.0", **headers})
        row = call.reader(self.store).one(table, ident, parse_options(call.options))
        row = {"@odata.context": call.context_url(table, "/$entity"), **row}
        applied = call.applied().get("Preference-Applied")
        headers["Preference-Applied"] = ",".join(filter(None, [applied, "return=representation"]))
        return json_response(status_with_body, row, {**headers, "ETag": row["@odata.etag"]})

    def _create(self, call: _Call, table: Table) -> ApiResponse:
        body = loads_body(call.req.body)
        parse_options(call.options)
        with self.store.transaction():
            ident = create(self._context(call), table, body)
            return self._written(call, table, ident, 201)

    def _patch(
        self, call: _Call, table: Table, ident: str | None, key: dict[str, Any] | None
    ) -> ApiResponse:
        """Update, or upsert: `If-Match` (an ETag or `*`) never creates, `If-None-Match: *` never updates."""
        body = loads_body(call.req.body)
        parse_options(call.options)
        if_match, if_none_match = call.header("If-Match"), call.header("If-None-Match")
        with self.store.transaction():
            ctx = self._context(call)
            found = find(self.store, table, ident, key)
            if if_none_match == "*" and found is not None:
                # Dataverse answers DuplicateRecord here (the documented message)
                raise DataverseFault(
                    412, DUPLICATE_RECORD, "A record with matching key values already exists."
                )
            if if_match and if_none_match != "*":
                found = self._existing(table, ident, key)
                self._check_etag(table, found, if_match)
            if found is None:
                found = create(ctx, table, body, ident=ident, forced=key)
                return self._written(call, table, found, 201)
            update(ctx, table, found, body)
            return self._written(call, table, found, 200)

    def _check_etag(self, table: Table, ident: str, if_match: str) -> None:
        """412 unless `if_match` is `*` or the row's current ETag."""
        if if_match in ("", "*"):
            return
        row = self.store.fetch(table, ident)
        if row is not None and if_match != etag(row["versionnumber"]):
            raise DataverseFault(
                412,
                CONCURRENCY_MISMATCH,
                "The version of the existing record doesn't match the RowVersion "
                "property provided.",
            )

    def _delete(
        self, call: _Call, table: Table, ident: str | None, key: dict[str, Any] | None
    ) -> ApiResponse:
        with self.store.transaction():
            ctx = self._context(call)
            found = self._existing(table, ident, key)
            self._check_etag(table, found, call.header("If-Match"))
            delete(ctx, table, found)
        return ApiResponse(204, {"OData-Version": "4.0"})

    def _multiple(self, call: _Call, table: Table, action: str) -> ApiResponse:
        """Create/Update/UpsertMultiple: every target of this table's type, all or nothing."""
        body = loads_body(call.req.body)
        targets = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(targets, list) or not targets:
            raise bad_payload(f"{action.rsplit('.', 1)[1]} needs a non-empty 'Targets' array.")
        expected = f"{_CRM}{table.logical_name}"
        for target in targets:
            kind = target.get("@odata.type") if isinstance(target, dict) else None
            if not isinstance(kind, str):
                raise bad_payload("Every item of 'Targets' needs an '@odata.type' annotation.")
            if kind.lstrip("#") != expected:
                raise bad_payload(
                    f"'{kind}' does not match the entity set '{table.entity_set}' ({expected})."
                )
        with self.store.transaction():
            ctx = self._context(call)
            if action == _CREATE_MULTIPLE:
                ids = [create(ctx, table, target) for target in targets]
                return json_response(
                    200,
                    {
                        "@odata.context": f"{call.base}{API_ROOT}$metadata#{_CRM}CreateMultipleResponse",
                        "Ids": ids,
                    },
                )
            for target in targets:
                if action == _UPSERT_MULTIPLE:
                    self._upsert_target(ctx, table, target)
                    continue
                ident = canonical_guid(target.get(table.primary_id))
                if ident is None:
                    raise bad_payload(f"UpdateMultiple needs '{table.primary_id}' in every target.")
                update(ctx, table, self._existing(table, ident, None), target)
        return ApiResponse(204, {"OData-Version": "4.0"})

    def _upsert_target(self, ctx: WriteContext, table: Table, target: dict[str, Any]) -> None:
        """One UpsertMultiple item, addressed by `@odata.id` (a key URL) or its primary id."""
        ident, key = canonical_guid(target.get(table.primary_id)), None
        address = target.get("@odata.id")
        if address is not None:
            resource = parse_resource(str(address).split(API_ROOT, 1)[-1].lstrip("/"))
            if resource.name != table.entity_set or resource.key is None or resource.rest:
                raise bad_payload(
                    f"'@odata.id' must address a row of {table.entity_set}: {address!r}."
                )
            ident, key = resolve_key(table, resource.key)
        found = find(self.store, table, ident, key) if ident or key else None
        if found is None:
            create(ctx, table, target, ident=ident, forced=key)
        else:
            update(ctx, table, found, target)


def _not_allowed(method: str, res: Resource) -> DataverseFault:
    return DataverseFault(
        405, "0x80060888", f"The HTTP method '{method}' is not allowed on '{res.name}'."
    )
