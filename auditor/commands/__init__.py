"""The commands of :mod:`auditor.cli`, one module each; what several share is in :mod:`.common`."""
