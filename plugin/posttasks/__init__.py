"""Post-invoicing tasks (docs/interfaces.md): plan the Queued rows, run them in a worker, report their state."""
from plugin.posttasks.model import TaskStatus, TaskType, planned_tasks
from plugin.posttasks.worker import PostTaskWorker

__all__ = ["TaskStatus", "TaskType", "planned_tasks", "PostTaskWorker"]
