"""On-demand unit prices by region: the bundled table, a local cache that ``auditor prices
refresh`` writes, and lookups that answer None (unknown) for a price the table lacks, never 0."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUNDLED = Path(__file__).with_name("prices.json")
CACHE_ENV = "AUDITOR_COST__PRICES"   # also the daemon's cost.prices key
FORMAT = 1


class PriceTableError(Exception):
    """A price file that cannot be read; the message names the file and the field."""


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


def read_table(path: Path) -> dict[str, Any]:
    """A price file, checked field by field."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceTableError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:   # not UTF-8 (a ValueError too), not JSON, nested too deep
        raise PriceTableError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PriceTableError(f"{path}: format: expected {FORMAT}, found {doc.get('format') if isinstance(doc, dict) else doc!r}")
    regions = doc.get("regions")
    if not isinstance(regions, dict):
        raise PriceTableError(f"{path}: regions: expected an object of region -> prices")
    for region, block in regions.items():
        where = f"{path}: regions.{region}"
        if not isinstance(block, dict) or not isinstance(block.get("prices"), dict):
            raise PriceTableError(f"{where}.prices: expected an object of key -> price")
        for field_name in ("source", "as_of"):
            if not isinstance(block.get(field_name), str):
                raise PriceTableError(f"{where}.{field_name}: expected a string")
        for key, entry in block["prices"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("usd"), (int, float)) \
                    or isinstance(entry.get("usd"), bool) or entry["usd"] < 0:
                raise PriceTableError(f"{where}.prices.{key}.usd: expected a number >= 0")
            if not isinstance(entry.get("unit"), str):
                raise PriceTableError(f"{where}.prices.{key}.unit: expected a string")
    return doc


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
