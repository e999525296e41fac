"""``auditor prices show|refresh``: the price table of a region, or its refresh from the Price List API."""
from __future__ import annotations

import argparse
import sys

from ..report import status
from ..report.listings import prices_listing
from .common import EXIT_INCOMPLETE, EXIT_OK


def cmd_prices(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ..audit import load_prices
    from ..cost.prices import default_cache_path

    if args.prices_command == "show":
        table = load_prices(args.prices)
        sys.stdout.write(prices_listing(table, args.region, args.format))
        return EXIT_OK if table.describe(args.region)["prices"] or args.format == "json" else EXIT_INCOMPLETE
    from ..aws import AwsContext
    from ..cost.refresh import COMMERCIAL, PriceRefreshError, listed_regions, pricing_endpoint, pricing_region, refresh

    cache = args.cache or default_cache_path()
    try:
        endpoint = pricing_region(args.region) if args.region else pricing_endpoint(COMMERCIAL)
        client = AwsContext(region=endpoint, profile=args.profile).client("pricing")
        regions = args.region or listed_regions(client, COMMERCIAL)
        summaries = refresh(client, regions, cache, datetime.now(UTC).date())
    except PriceRefreshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    sys.stdout.write(status.refreshed(summaries, cache))
    return EXIT_OK
