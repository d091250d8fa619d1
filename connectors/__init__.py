"""Connectors: the Dataverse Web API client and the local Dataverse server."""
