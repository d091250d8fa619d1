"""Raw-HTTP helpers for the local Dataverse's wire tests."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
import requests

TOKEN = "local-dev-token"


def dumps(obj: Any) -> str:
    """JSON with Decimals written as exact numbers."""

    def mark(o: Any) -> str:
        if isinstance(o, Decimal):
            return f"__DEC__{o}__"
        raise TypeError(type(o).__name__)

    return re.sub(r'"__DEC__([-0-9.E+]+)__"', r"\1", json.dumps(obj, default=mark))


class Api:
    """`requests` against one local Dataverse, with the development token unless told otherwise."""

    def __init__(self, dv):
        self.dv = dv
        self.root = dv.api_url
        self.session = requests.Session()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = TOKEN,
        **kw,
    ) -> requests.Response:
        url = path if path.startswith("http") else self.root + path
        hdrs = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            data = dumps(json_body)
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        return self.session.request(method, url, data=data, headers=hdrs, timeout=30, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> requests.Response:
        return self.request("POST", path, json_body=body, **kw)

    def patch(self, path: str, body: Any = None, **kw) -> requests.Response:
        return self.request("PATCH", path, json_body=body, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def create(self, entity_set: str, body: dict, **kw) -> str:
        """Create a row; its id (asserts 204 + OData-EntityId)."""
        resp = self.post(entity_set, body, **kw)
        assert resp.status_code == 204, resp.text
        return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    def row(self, entity_set: str, ident: str, select: str | None = None) -> dict:
        """One row (asserts 200), numbers as Decimal."""
        resp = self.get(f"{entity_set}({ident})" + (f"?$select={select}" if select else ""))
        assert resp.status_code == 200, resp.text
        return parse(resp)

    def rows(self, entity_set: str, query: str = "") -> list[dict]:
        """All rows of one query page (asserts 200)."""
        resp = self.get(f"{entity_set}{'?' + query if query else ''}")
        assert resp.status_code == 200, resp.text
        return parse(resp)["value"]

    def count(self, entity_set: str) -> int:
        return len(self.rows(entity_set, "$select=createdon"))


def parse(resp: requests.Response) -> Any:
    """A response body with numbers parsed as Decimal."""
    return json.loads(resp.text, parse_float=Decimal)


def error_code(resp: requests.Response) -> str:
    """The Dataverse error code of an error response."""
    return resp.json()["error"]["code"]


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def api(local_dataverse) -> Api:
    """Raw HTTP access to the module's local Dataverse."""
    return Api(local_dataverse)


@pytest.fixture
def quiet_dataverse(local_dataverse):
    """The module's server with faults off and zeroed counters (faults off again afterwards)."""
    off = dict(rate_429=0, rate_503=0, rate_reset=0, latency_ms=0, retry_after_s=1)
    local_dataverse.set_faults(**off)
    local_dataverse.reset_stats()
    yield local_dataverse
    local_dataverse.set_faults(**off)
