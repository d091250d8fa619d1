"""Dataverse Web API v9.2 connector: requests + msal, OData, `$batch`, retries, typed errors."""
from . import errors, odata
from .batch import Batch, BatchResult, Changeset, ChangesetResult, PartResponse
from .client import DataverseClient

__all__ = ["DataverseClient", "Batch", "Changeset", "BatchResult", "ChangesetResult",
           "PartResponse", "odata", "errors"]
