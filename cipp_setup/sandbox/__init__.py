"""The sandbox tenant: an offline, faithful stand-in for Entra ID, Graph, ARM and CIPP."""
