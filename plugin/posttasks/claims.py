"""Claiming Queued task rows (so no two processes run a task twice) and finding the stranded ones.

A claim PATCHes the row with `If-Match` on the ETag it was read with and counts one more attempt:
whoever claims first owns the task, a 412 tells everyone else to leave it. A task is stranded when
it is still Queued long after its last write (its process stopped, or lost its queue).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, Mapping, Sequence

from connectors.dataverse import Batch, DataverseClient, odata
from plugin.posttasks.loading import TASK_COLUMNS
from plugin.posttasks.model import TaskStatus

log = logging.getLogger(__name__)

TASKS = "w365_postinvoicetasks"
TASK_ID = "w365_postinvoicetaskid"
RECOVERY_GRACE_S = 120.0   # longer than a healthy worker takes from writing a task to finishing it
MAX_STRANDED_PER_SWEEP = 1000
_CLAIMS_PER_BATCH = 500


def stranded_tasks(client: DataverseClient, grace_s: float = RECOVERY_GRACE_S, *,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """Queued tasks of existing invoices untouched for `grace_s` seconds, oldest first (one paged query)."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=grace_s)
    flt = odata.and_(odata.eq("w365_status", int(TaskStatus.QUEUED)), odata.ne("_w365_invoice_value", None),
                     odata.lt("modifiedon", cutoff))
    rows = client.query(TASKS, select=TASK_COLUMNS, filter=flt, orderby=["modifiedon", TASK_ID], page_size=500)
    return list(islice(rows, MAX_STRANDED_PER_SWEEP))


def claim_tasks(client: DataverseClient, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows this process now owns, each claimed `If-Match` its read ETag (one `$batch` per 500)."""
    rows = [row for row in rows if row.get("@odata.etag")]  # without an ETag a claim would not be exclusive
    claimed: list[Mapping[str, Any]] = []
    for start in range(0, len(rows), _CLAIMS_PER_BATCH):
        part = rows[start:start + _CLAIMS_PER_BATCH]
        batch = Batch()
        for row in part:
            batch.changeset(tag=row[TASK_ID]).update(
                TASKS, row[TASK_ID], {"w365_attempts": int(row.get("w365_attempts") or 0) + 1},
                etag=row["@odata.etag"])
        result = client.execute_batch(batch, continue_on_error=True)
        won = {changeset.tag for changeset in result.changesets if changeset.ok}
        for changeset in result.changesets:
            if not changeset.ok and getattr(changeset.error, "status", None) != 412:
                log.warning("could not claim post-invoicing task %s: %s", changeset.tag, changeset.error)
        claimed += [row for row in part if row[TASK_ID] in won]
    return claimed


NOT_OURS = "not created by this service"


def queued_tasks(client: DataverseClient, limit: int = MAX_STRANDED_PER_SWEEP) -> list[dict[str, Any]]:
    """Every Queued task row, whatever its age (the sweep checks each one's signature)."""
    rows = client.query(TASKS, select=TASK_COLUMNS, filter=odata.eq("w365_status", int(TaskStatus.QUEUED)),
                        orderby=["modifiedon", TASK_ID], page_size=500)
    return list(islice(rows, limit))


def fail_forged(client: DataverseClient, rows: Sequence[Mapping[str, Any]]) -> int:
    """Set task rows the service did not write (no valid signature) Failed, never running them; how many."""
    if not rows:
        return 0
    for row in rows:
        log.warning("post-invoicing task %s has no valid signature: set Failed, not run", row[TASK_ID])
    failed = 0
    for start in range(0, len(rows), _CLAIMS_PER_BATCH):
        batch = Batch()
        for row in rows[start:start + _CLAIMS_PER_BATCH]:
            batch.changeset(tag=row[TASK_ID]).update(
                TASKS, row[TASK_ID], {"w365_status": int(TaskStatus.FAILED), "w365_message": NOT_OURS},
                etag=row.get("@odata.etag"))
        result = client.execute_batch(batch, continue_on_error=True)
        failed += sum(1 for changeset in result.changesets if changeset.ok)
    return failed
