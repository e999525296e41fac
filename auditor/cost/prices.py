"""On-demand unit prices by region: the bundled table, a local cache that ``auditor prices
refresh`` writes, and lookups that answer None (unknown) for a price the table lacks, never 0."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictStr, ValidationError

from ..yaml_lines import YamlFileError, read_text, read_yaml, validation_problems

BUNDLED = Path(__file__).with_name("prices.json")
CACHE_ENV = "AUDITOR_COST__PRICES"   # also the daemon's cost.prices key
FORMAT = 1


class PriceTableError(Exception):
    """A price file that cannot be read; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    unit: str
    region: str
    source: str      # where the region's prices came from
    as_of: str       # the date they were read

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "usd": self.usd, "unit": self.unit, "region": self.region,
                "source": self.source, "as_of": self.as_of}


def default_cache_path() -> Path:
    """Where ``auditor prices refresh`` writes and every command looks first: $AUDITOR_COST__PRICES,
    else ``$XDG_CACHE_HOME/auditor/prices.json`` (default ``~/.cache``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "auditor" / "prices.json"


class _Price(BaseModel):
    usd: float = Field(ge=0, strict=True)
    unit: StrictStr


class _Region(BaseModel):
    source: StrictStr
    as_of: StrictStr
    prices: dict[str, _Price]


class _Table(BaseModel):
    format: Literal[1]
    regions: dict[str, _Region]


MESSAGES = {   # pydantic error type -> ours, by depth of the location (regions.R.prices.K.usd: 5)
    ("model_type", 0): "expected an object with format and regions",
    ("literal_error", 1): f"expected {FORMAT}",
    ("dict_type", 1): "expected an object of region -> prices",
    ("model_type", 2): "expected an object with source, as_of and prices",
    ("dict_type", 3): "expected an object of key -> price",
    ("model_type", 4): "expected an object with usd and unit",
    ("float_type", 5): "expected a number >= 0",
    ("greater_than_equal", 5): "expected a number >= 0",
    ("missing", 1): "required", ("missing", 3): "required", ("missing", 5): "required",
}


def read_table(path: Path) -> dict[str, Any]:
    """A price file, checked field by field; PriceTableError names the file, line and field of each problem."""
    try:
        text = read_text(path)
        doc = json.loads(text)
    except YamlFileError as exc:
        raise PriceTableError(str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"{path}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from exc
    except RecursionError as exc:
        raise PriceTableError(f"{path}:1: not JSON: {exc}") from exc
    try:
        _Table.model_validate(doc)
    except ValidationError as exc:
        raise PriceTableError("\n".join(validation_problems(path, exc, _lines(path), MESSAGES))) from exc
    return doc


def _lines(path: Path) -> dict[tuple, int]:
    """The line of every key of a JSON file (read as YAML), for errors; none when YAML cannot read it."""
    try:
        return read_yaml(path)[1]
    except YamlFileError:
        return {}


def write_table(path: Path, doc: Mapping[str, Any]) -> None:
    """Write a price file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


class PriceTable:
    """Region blocks from the cache (when present) over the bundled table, region by region."""

    def __init__(self, layers: list[tuple[Path, dict[str, Any]]]):
        self.regions: dict[str, dict[str, Any]] = {}
        self.files: dict[str, Path] = {}
        for path, doc in layers:          # later layers win per region
            for region, block in doc["regions"].items():
                self.regions[region] = block
                self.files[region] = path

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The bundled table, overlaid by ``path`` (default: the refresh cache, if it exists)."""
        layers = [(BUNDLED, read_table(BUNDLED))]
        overlay = path or default_cache_path()
        if path is not None or overlay.exists():
            layers.append((overlay, read_table(overlay)))
        return cls(layers)

    def get(self, region: str, key: str) -> Price | None:
        block = self.regions.get(region)
        entry = block["prices"].get(key) if block else None
        if entry is None:
            return None
        return Price(key, float(entry["usd"]), entry["unit"], region, block["source"], block["as_of"])

    def describe(self, region: str) -> dict[str, Any]:
        """Where the region's prices come from (for reports)."""
        block = self.regions.get(region)
        if block is None:
            return {"region": region, "source": None, "as_of": None, "file": None, "prices": 0}
        return {"region": region, "source": block["source"], "as_of": block["as_of"],
                "file": str(self.files[region]), "prices": len(block["prices"])}
