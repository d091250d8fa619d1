"""The lease a process holds on the run it executes, so that a run outlives the process executing it.

The executing process writes `w365_leaseowner` (`<host>:<pid>`) and `w365_leaseexpires` on the run
row and renews them (with `If-Match`) every third of the lease. A process that finds a Running run
whose lease has expired takes it over with `If-Match` on the row it read — one winner — and resumes
it. A process that stops releases its leases so that another resumes at once.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.dataverse import DataverseClient, odata
from connectors.dataverse.errors import DataverseError, NotFoundError, PreconditionFailedError
from plugin.invoicing.writes import RUN_RUNNING

log = logging.getLogger(__name__)

LEASE_COLUMNS = ["w365_invoicerunid", "w365_status", "w365_leaseowner", "w365_leaseexpires", "modifiedon"]


def process_owner() -> str:
    """This process as a lease owner: `<host>:<pid>`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def utc_now() -> datetime:
    """The current time, UTC."""
    return datetime.now(timezone.utc)


def utc_text(when: datetime) -> str:
    """A DateTime column value (UTC, seconds, `Z`)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: Any) -> datetime | None:
    """A DateTime column as read (None when empty or unreadable)."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def lease_columns(owner: str, lease_s: float, now: datetime | None = None) -> dict[str, Any]:
    """The columns of a lease held by `owner` from now on."""
    return {"w365_leaseowner": owner, "w365_leaseexpires": utc_text((now or utc_now()) + timedelta(seconds=lease_s))}


def released_columns(now: datetime | None = None) -> dict[str, Any]:
    """The columns of a released lease: nobody, expired now."""
    return {"w365_leaseowner": "", "w365_leaseexpires": utc_text(now or utc_now())}


HANDOFF = "queued"  # a run waiting for its next queued task: that task may take it before the lease expires


def handoff_columns(lease_s: float) -> dict[str, Any]:
    """The lease of a run handed to the queue: any worker's task may take it now; the sweep only once
    it has expired (the queued task was lost)."""
    return lease_columns(HANDOFF, lease_s)


@dataclass(frozen=True)
class LeaseState:
    """A run row's lease as read."""

    run_id: str
    running: bool
    owner: str | None
    expires: datetime | None
    etag: str | None
    modified: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "LeaseState":
        """Parse a run row read with LEASE_COLUMNS."""
        return cls(run_id=str(row["w365_invoicerunid"]).lower(), running=row.get("w365_status") == RUN_RUNNING,
                   owner=row.get("w365_leaseowner") or None, expires=parse_utc(row.get("w365_leaseexpires")),
                   etag=row.get("@odata.etag"), modified=parse_utc(row.get("modifiedon")))

    def expired(self, lease_s: float, now: datetime | None = None) -> bool:
        """Whether nobody holds a live lease (a run without a lease counts from its last change)."""
        now = now or utc_now()
        if self.expires is not None:
            return self.expires <= now
        return self.modified is None or self.modified + timedelta(seconds=lease_s) <= now

    def orphaned(self, lease_s: float, now: datetime | None = None) -> bool:
        """A Running run whose lease has expired: any process may take it over."""
        return self.running and self.expired(lease_s, now)

    def claimable(self, lease_s: float, now: datetime | None = None) -> bool:
        """Orphaned, or handed to the queue: what a queued task may take."""
        return self.running and (self.owner == HANDOFF or self.expired(lease_s, now))


def read_lease(client: DataverseClient, run_id: str) -> LeaseState | None:
    """The lease of a run (None when the run does not exist)."""
    try:
        return LeaseState.from_row(client.get("w365_invoiceruns", run_id, select=LEASE_COLUMNS))
    except NotFoundError:
        return None


def take_over(client: DataverseClient, state: LeaseState, owner: str, lease_s: float, *,
              handoff: bool = False) -> bool:
    """Claim an orphaned run (`handoff`: or one handed to the queue) with `If-Match` on the row read; True
    for the one winner."""
    if not (state.claimable(lease_s) if handoff else state.orphaned(lease_s)):
        return False
    try:
        client.update("w365_invoiceruns", state.run_id, lease_columns(owner, lease_s), etag=state.etag)
    except PreconditionFailedError:
        return False
    return True


def orphaned_runs(client: DataverseClient, lease_s: float, limit: int = 50) -> list[LeaseState]:
    """Running runs whose lease has expired (oldest first)."""
    now = utc_now()
    rows = client.query("w365_invoiceruns", select=LEASE_COLUMNS, orderby="modifiedon asc", top=limit,
                        filter=odata.and_(odata.eq("w365_status", RUN_RUNNING),
                                          f"(w365_leaseexpires eq null or w365_leaseexpires le {utc_text(now)})"))
    return [s for s in (LeaseState.from_row(r) for r in rows) if s.orphaned(lease_s, now)]


class LeaseKeeper:
    """Renews this process's lease on one run every third of the lease until stopped.

    `lost` is set when another process holds the lease (it took the run over): the executor then
    writes nothing more for the run.
    """

    def __init__(self, client: DataverseClient, run_id: str, owner: str, lease_s: float) -> None:
        self._client = client
        self.run_id = run_id
        self.owner = owner
        self.lease_s = lease_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"w365-lease-{run_id[:8]}")

    def start(self) -> "LeaseKeeper":
        """Start renewing (the lease itself was written when the run was opened or taken over)."""
        self._thread.start()
        return self

    def renew(self) -> bool:
        """Extend the lease once (If-Match on the row read); False when the lease is no longer ours."""
        for _ in range(3):  # the row also changes with progress saves: read again on a 412
            state = read_lease(self._client, self.run_id)
            if state is None or state.owner != self.owner:
                self.lost.set()
                return False
            try:
                self._client.update("w365_invoiceruns", self.run_id, lease_columns(self.owner, self.lease_s),
                                    etag=state.etag)
                return True
            except PreconditionFailedError:
                continue
        return True  # busy row, still ours: the next round renews

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                if not self.renew():
                    log.warning("run %s: the lease was taken over by another process", self.run_id)
                    return
            except DataverseError as exc:  # Dataverse unreachable: keep trying; the lease may lapse
                log.warning("run %s: could not renew the lease: %s", self.run_id, exc)

    def stop(self, *, release: bool) -> None:
        """Stop renewing; `release`: give the lease up now (another process may resume at once)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if release and not self.lost.is_set():
            self.release()

    def release(self) -> bool:
        """Give the lease up now if it is still ours (If-Match; read again while the row keeps changing)."""
        for _ in range(10):
            try:
                state = read_lease(self._client, self.run_id)
                if state is None or state.owner != self.owner:
                    return False
                self._client.update("w365_invoiceruns", self.run_id, released_columns(), etag=state.etag)
                return True
            except PreconditionFailedError:
                continue  # a progress save landed in between
            except DataverseError as exc:
                log.warning("run %s: could not release the lease: %s", self.run_id, exc)
                return False
        return False
