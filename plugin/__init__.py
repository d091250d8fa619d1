"""w365-invoicing: Work 365's manual Generate Invoice as a Dataverse plugin service."""
__version__ = "0.1.0"
