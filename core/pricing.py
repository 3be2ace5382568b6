"""What GPUs cost per hour: SkyPilot's catalogue when asked for a live price, the bundled table otherwise.

`price_per_hour(gpu, count)` answers from the catalogue's indicative prices (`GpuSpec.price_per_gpu_hour`)
without importing SkyPilot, so the fit check stays fast. With `live=True` it reads SkyPilot's per-cloud
price CSVs (`~/.sky/catalogs/v8/<cloud>/vms.csv`, downloaded on first use, offline afterwards) and takes
the cheapest matching offer; any failure (SkyPilot not installed, no network, no such offer) falls back
to the bundled table and says the figure is an estimate. Live answers are cached in-process.
SkyPilot's catalogue code prints its own "Failed to fetch ... catalog" lines to the terminal through
its logger; those are kept out (`_quiet_catalog`): the one line that matters is logged here.

Not for billing: what a running endpoint has cost is the watchdog's job.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.gpus import GpuSpec

log = logging.getLogger(__name__)

# Clouds searched for a live price when no cloud is named: the public clouds and the GPU clouds
# SkyPilot lists most parts on. Each is read separately, so one unreachable catalogue costs nothing.
LIVE_PRICE_CLOUDS: tuple[str, ...] = ("aws", "gcp", "azure", "lambda", "runpod", "nebius")

# Without a live spot price, spot capacity is estimated at this share of on-demand
# (GCP and AWS spot GPUs typically sell for 30-50% of on-demand).
SPOT_DISCOUNT = 0.4

# A live look-up that takes longer than this (a catalogue download hanging) gives up and estimates.
LIVE_TIMEOUT_SECONDS = 30.0

BUNDLED_SOURCE = "bundled table"


@dataclass(frozen=True)
class Price:
    """An hourly price for a number of GPUs, and where it came from."""

    per_hour: float  # dollars per hour for all the GPUs asked for
    is_estimate: bool  # True when it did not come from a live catalogue row for exactly this shape
    source: str  # "skypilot catalog gcp/us-central1", "bundled table", ...
    cloud: str | None = None  # where the live offer is (lowercase SkyPilot cloud name)
    region: str | None = None
    instance_type: str | None = None


_cache: dict[tuple[str, int, str | None, str | None, bool], Price] = {}
_cache_lock = threading.Lock()


def clear_price_cache() -> None:
    """Forget cached live prices (tests; or after a catalogue refresh)."""
    with _cache_lock:
        _cache.clear()


def bundled_price(gpu: GpuSpec, count: int, *, spot: bool = False) -> Price:
    """The catalogue's indicative on-demand price (times SPOT_DISCOUNT for spot), marked as an estimate."""
    per_hour = gpu.price_per_gpu_hour * count * (SPOT_DISCOUNT if spot else 1.0)
    source = f"{BUNDLED_SOURCE} (spot about {SPOT_DISCOUNT:.0%} of on-demand)" if spot else BUNDLED_SOURCE
    return Price(per_hour=round(per_hour, 4), is_estimate=True, source=source)


def price_per_hour(
    gpu: GpuSpec,
    count: int,
    *,
    cloud: str | None = None,
    region: str | None = None,
    spot: bool = False,
    live: bool = False,
) -> Price:
    """Hourly price of `count` GPUs of type `gpu` (all nodes together).

    `live=False` (the default) never imports SkyPilot. `live=True` asks SkyPilot's catalogue for the
    cheapest offer of this shape in `cloud`/`region` (any cloud in LIVE_PRICE_CLOUDS when unset).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if not live:
        return bundled_price(gpu, count, spot=spot)
    key = (gpu.name, count, cloud.lower() if cloud else None, region, spot)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    price = _live_or_bundled(gpu, count, cloud=cloud, region=region, spot=spot)
    with _cache_lock:
        _cache[key] = price
    return price


def _live_or_bundled(gpu: GpuSpec, count: int, *, cloud: str | None, region: str | None, spot: bool) -> Price:
    result: list[Price | None] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(_live_price(gpu, count, cloud=cloud, region=region, spot=spot))
        except BaseException as exc:  # SkyPilot raises many types; any of them means "no live price"
            errors.append(exc)

    # A daemon thread, not an executor: a hung catalogue download must not keep the process alive.
    worker = threading.Thread(target=work, name="live-price", daemon=True)
    worker.start()
    worker.join(LIVE_TIMEOUT_SECONDS)
    if worker.is_alive():
        log.warning("live price for %s:%d timed out; using the bundled table", gpu.name, count)
    elif errors:
        log.info(
            "no live price for %s:%d (%s); using the bundled table", gpu.name, count, type(errors[0]).__name__
        )
    elif result and result[0] is not None:
        return result[0]
    return bundled_price(gpu, count, spot=spot)


def _quiet_catalog() -> None:
    """Silence SkyPilot's catalogue loggers (they write to the terminal, not to our logging): a missing
    catalogue is expected here (no network, cloud not enabled) and is reported once by `_live_or_bundled`."""
    logging.getLogger("sky.catalog").setLevel(logging.CRITICAL)


def _nodes_and_per_node(gpu: GpuSpec, count: int) -> tuple[int, int]:
    nodes = -(-count // gpu.gpus_per_node)
    return nodes, count // nodes


def _live_price(
    gpu: GpuSpec, count: int, *, cloud: str | None, region: str | None, spot: bool
) -> Price | None:
    """The cheapest catalogue offer for this shape, or None when no catalogue lists one."""
    from sky import catalog as sky_catalog  # lazy: `import sky` takes over a second

    _quiet_catalog()
    nodes, per_node = _nodes_and_per_node(gpu, count)
    clouds: Sequence[str] = [cloud.lower()] if cloud else LIVE_PRICE_CLOUDS
    rows: list[Any] = []
    for name in clouds:
        try:
            listing = sky_catalog.list_accelerators(
                gpus_only=True,
                name_filter=f"^{re.escape(gpu.name)}$",
                region_filter=f"^{re.escape(region)}$" if region else None,
                clouds=name,
                case_sensitive=False,
                all_regions=True,
            )
        except Exception as exc:  # one cloud's catalogue missing or unreachable: try the others
            if cloud:
                raise
            log.debug("skypilot catalog for %s unavailable: %s", name, type(exc).__name__)
            continue
        for offers in listing.values():
            rows.extend(offers)

    def hourly(row: Any) -> float | None:
        value = row.spot_price if spot else row.price
        if value is None or (isinstance(value, float) and math.isnan(value)) or value <= 0:
            return None
        return float(value)

    priced = [(hourly(row), row) for row in rows if hourly(row) is not None]
    exact = [(p, row) for p, row in priced if int(row.accelerator_count) == per_node]
    if exact:
        best_price, best = min(exact, key=lambda item: item[0])
        return _price_from_row(best, best_price * nodes, is_estimate=False, note="")
    # No offer of exactly this many GPUs per node: scale the cheapest per-GPU offer, as an estimate.
    whole = [(p, row) for p, row in priced if row.accelerator_count >= 1]
    if not whole:
        return None
    per_gpu, best = min(((p / row.accelerator_count, row) for p, row in whole), key=lambda item: item[0])
    note = f" (scaled from {best.accelerator_name}:{int(best.accelerator_count)})"
    return _price_from_row(best, per_gpu * count, is_estimate=True, note=note)


def _price_from_row(row: Any, per_hour: float, *, is_estimate: bool, note: str) -> Price:
    cloud = str(row.cloud).lower()
    region = str(row.region) if row.region else None
    where = f"{cloud}/{region}" if region else cloud
    return Price(
        per_hour=round(per_hour, 4),
        is_estimate=is_estimate,
        source=f"skypilot catalog {where}{note}",
        cloud=cloud,
        region=region,
        instance_type=str(row.instance_type) if row.instance_type else None,
    )
