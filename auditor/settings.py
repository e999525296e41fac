"""What every section of the settings is (the daemon's and each notification channel's)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A section of the settings: unknown keys refused, values fixed once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
