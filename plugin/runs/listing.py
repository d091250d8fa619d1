"""Who may see which run, and a user's recent runs (`GET /invoice-runs`)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from connectors.dataverse import DataverseClient, odata
from plugin.runs.model import RUN_STATUS_LABELS
from plugin.runs.store import find_run

ADMIN_ROLE = 3  # systemusers.w365_billingrole: 3 Admin sees every run
VIEWER_TTL_S = 60.0  # a changed billing role reaches run visibility within a minute
_LIST_COLUMNS = ["w365_invoicerunid", "w365_status", "createdon", "w365_total", "w365_created", "w365_skipped",
                 "w365_failed", "w365_mode", "_w365_initiatinguser_value"]
_STATUS_VALUES = {label: value for value, label in RUN_STATUS_LABELS.items()}


class TtlCache:
    """A small thread-safe cache whose entries expire after `ttl_s` seconds."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The cached value of `key`, else `make()` (cached from now on)."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = make()
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (now + self._ttl_s, value)
        return value


@dataclass(frozen=True)
class RunViewer:
    """Who asks about runs: a systemuser (None: the application user) and whether they see every run."""

    user_id: str | None
    admin: bool = False

    def may_see(self, initiating_user_id: str | None) -> bool:
        """Runs are visible to the user who started them and to Admins."""
        if self.admin:
            return True
        return (initiating_user_id or "").lower() == (self.user_id or "").lower()


def viewer_of_object_id(client: DataverseClient, object_id: str) -> RunViewer:
    """The viewer an Entra object id is (a user unknown to Dataverse sees no run but their own: none)."""
    rows = client.query("systemusers", select=["systemuserid", "w365_billingrole"], top=1,
                        filter=odata.eq("azureactivedirectoryobjectid", object_id))
    found = next(iter(rows), None)
    if found is None:
        return RunViewer(user_id=f"unknown:{object_id}")
    return RunViewer(user_id=str(found["systemuserid"]).lower(), admin=found.get("w365_billingrole") == ADMIN_ROLE)


def visible_run_id(client: DataverseClient, viewer: RunViewer, run_id_or_key: str) -> str | None:
    """The run's id when it exists and the viewer may see it, else None (a 404 either way)."""
    record = find_run(client, run_id_or_key)
    if record is None or not viewer.may_see(record.initiating_user_id):
        return None
    return record.run_id


def list_runs(client: DataverseClient, viewer: RunViewer, *, status: str | None, top: int) -> list[dict[str, Any]]:
    """The viewer's runs (an Admin's: everyone's), newest first, as `GET /invoice-runs` lists them."""
    mine = None if viewer.admin else (odata.eq("_w365_initiatinguser_value", viewer.user_id) if viewer.user_id
                                      else "_w365_initiatinguser_value eq null")
    wanted = odata.eq("w365_status", _STATUS_VALUES[status]) if status else "w365_status ne null"
    rows = client.query("w365_invoiceruns", select=_LIST_COLUMNS, filter=odata.and_(mine, wanted),
                        orderby="createdon desc", top=top)
    runs = []
    for row in rows:
        counts = {k: int(row.get(f"w365_{k}") or 0) for k in ("created", "skipped", "failed")}
        runs.append({"run_id": str(row["w365_invoicerunid"]).lower(),
                     "status": RUN_STATUS_LABELS.get(row.get("w365_status"), "running"),
                     "mode": "single" if row.get("w365_mode") == 1 else "bulk",
                     "created_on": row.get("createdon"),
                     "progress": {"done": sum(counts.values()), "total": int(row.get("w365_total") or 0)},
                     "counts": counts})
    return runs
