"""Invoice runs: one per Generate Invoice press, executed exactly once per row, resumable after a death.

| module | job |
|---|---|
| `model` | runs as plain data: requested rows, each row's Result, the run's view, the CSV |
| `store` | the run row and run items in Dataverse: open idempotently, save progress, read back |
| `lease` | the executing process's lease on a run row: renew, take over, release, hand to the queue |
| `rows` | one chunk of rows: plan each row, write its change set through `$batch`, settle its Result |
| `executor` | executing a run's rows chunk by chunk under the lease |
| `service` | `RunService`: start, view, wait, retry, resume, sweep, stop |
| `state` | the in-memory progress of the runs this process executes |
| `view` | a run as the API shows it, from Dataverse alone |
| `listing` | who may see which run; a user's recent runs |
| `window_rows` | the bulk window's rows (`/bulk/rows`) |
| `celery_tasks` | the distributed engine: `w365 worker` executes runs a chunk per Celery task |

docs/runs.md explains the guarantees.
"""
