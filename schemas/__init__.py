"""Marshmallow schemas: webhook execution context, API requests/responses, Dataverse records."""
