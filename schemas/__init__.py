"""Marshmallow schemas: webhook execution context, API requests/responses, bulk runs."""
