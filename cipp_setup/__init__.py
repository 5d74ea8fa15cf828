"""cipp-setup: prepare a tenant for the CIPP API and tell why it stopped answering."""

__version__ = "0.1.0"
