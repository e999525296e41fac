"""auditor: check a live AWS account against its documented architecture."""
__version__ = "0.1.0"
