"""Prices: the bundled table, SkyPilot's catalogue read offline from planted CSVs, and the fallback.

The live cases share one subprocess: `import sky` costs a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from core import pricing
from core.gpus import CATALOG
from core.pricing import Price, bundled_price, clear_price_cache, price_per_hour

REPO = Path(__file__).resolve().parents[2]

_GPU_INFO = "\"{'Gpus': [{'Name': 'H100', 'Manufacturer': 'NVIDIA', 'Count': %d.0, 'MemoryInfo': {'SizeInMiB': 81920}}], 'TotalGpuMemoryInMiB': %d}\""

RUNPOD_CSV = "\n".join(
    [
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Region,SpotPrice,Price,AvailabilityZone",
        f"1x_H100_SECURE,H100,1.0,16.0,176.0,{_GPU_INFO % (1, 81920)},CA,1.99,2.39,CA-MTL-1",
        f"2x_H100_SECURE,H100,2.0,32.0,352.0,{_GPU_INFO % (2, 163840)},CA,3.98,4.78,CA-MTL-1",
    ]
)
LAMBDA_CSV = "\n".join(
    [
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,Region,SpotPrice",
        f"gpu_1x_h100_pcie,H100,1.0,26.0,200.0,{_GPU_INFO % (1, 81920)},2.49,us-east-1,",
        f"gpu_1x_h100_pcie,H100,1.0,26.0,200.0,{_GPU_INFO % (1, 81920)},2.29,us-west-1,",
    ]
)


def _plant_catalog(home: Path) -> None:
    # A CSV with no `.meta/*.md5` beside it counts as hand-made, so SkyPilot never re-fetches it.
    for cloud, text in (("runpod", RUNPOD_CSV), ("lambda", LAMBDA_CSV)):
        folder = home / ".sky" / "catalogs" / "v8" / cloud
        folder.mkdir(parents=True)
        (folder / "vms.csv").write_text(text + "\n")


def _run(home: Path, body: str) -> dict:
    """Run `body` in a fresh interpreter whose SkyPilot home is `home`; it prints one JSON object."""
    env = {
        **os.environ,
        "HOME": str(home),
        "SKY_RUNTIME_DIR": str(home),
        # Any download attempt fails at once instead of reaching the network.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "PYTHONPATH": str(REPO),
    }
    script = "import json, dataclasses, sys\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bundled_price_is_the_catalogue_figure_times_count() -> None:
    price = bundled_price(CATALOG["H100"], 8)
    assert price == Price(per_hour=round(CATALOG["H100"].price_per_gpu_hour * 8, 4), is_estimate=True,
                          source="bundled table")  # fmt: skip
    spot = bundled_price(CATALOG["H100"], 8, spot=True)
    assert spot.is_estimate and spot.per_hour < price.per_hour
    assert "spot" in spot.source


def test_default_is_bundled_and_never_imports_skypilot() -> None:
    script = textwrap.dedent(
        """
        import sys
        from core.gpus import get_gpu
        from core.pricing import price_per_hour
        price = price_per_hour(get_gpu("L4"), 2, cloud="gcp", region="us-central1")
        assert price.is_estimate and price.source == "bundled table", price
        assert "sky" not in sys.modules, "sky was imported"
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_count_must_be_positive() -> None:
    with pytest.raises(ValueError):
        price_per_hour(CATALOG["L4"], 0)


@pytest.mark.timeout(180)
def test_live_prices_come_from_skypilots_catalogue(tmp_path: Path) -> None:
    _plant_catalog(tmp_path)
    out = _run(
        tmp_path,
        """
        from core import pricing
        from core.gpus import get_gpu
        pricing.LIVE_PRICE_CLOUDS = ("runpod", "lambda")
        h100 = get_gpu("H100")
        asks = {
            "cheapest": dict(count=1),
            "two": dict(count=2),
            "spot": dict(count=1, spot=True),
            "lambda_east": dict(count=1, cloud="lambda", region="us-east-1"),
            "four_scaled": dict(count=4),
            "two_nodes": dict(count=16),
            "no_region": dict(count=1, cloud="runpod", region="nowhere"),
            "not_listed": dict(count=1, gpu="L4"),
            # No aws catalogue planted: SkyPilot tries to download it, and the download cannot connect.
            "unreachable": dict(count=2, cloud="aws"),
        }
        out = {}
        for key, ask in asks.items():
            gpu = get_gpu(ask.pop("gpu", "H100"))
            out[key] = dataclasses.asdict(pricing.price_per_hour(gpu, live=True, **ask))
        again = pricing.price_per_hour(h100, 1, live=True)
        out["cached"] = again is pricing.price_per_hour(h100, 1, live=True)
        print(json.dumps(out))
        """,
    )
    assert out["cheapest"] == {
        "per_hour": 2.29,
        "is_estimate": False,
        "source": "skypilot catalog lambda/us-west-1",
        "cloud": "lambda",
        "region": "us-west-1",
        "instance_type": "gpu_1x_h100_pcie",
    }
    assert out["two"]["per_hour"] == 4.78 and out["two"]["cloud"] == "runpod"
    assert not out["two"]["is_estimate"]
    assert out["spot"]["per_hour"] == 1.99 and out["spot"]["source"] == "skypilot catalog runpod/CA"
    assert out["lambda_east"]["per_hour"] == 2.49
    # No 4-GPU offer: the cheapest per-GPU offer scaled up, said to be an estimate.
    assert out["four_scaled"]["per_hour"] == pytest.approx(2.29 * 4)
    assert out["four_scaled"]["is_estimate"] and "scaled from H100:1" in out["four_scaled"]["source"]
    assert out["two_nodes"]["per_hour"] == pytest.approx(2.29 * 16)
    bundled_h100 = CATALOG["H100"].price_per_gpu_hour
    assert out["no_region"] == _bundled_dict(bundled_h100)
    assert out["not_listed"] == _bundled_dict(CATALOG["L4"].price_per_gpu_hour)
    assert out["cached"] is True
    assert out["unreachable"] == _bundled_dict(bundled_h100, 2)


def _bundled_dict(per_gpu: float, count: int = 1) -> dict:
    return {
        "per_hour": round(per_gpu * count, 4),
        "is_estimate": True,
        "source": "bundled table",
        "cloud": None,
        "region": None,
        "instance_type": None,
    }


def test_missing_skypilot_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_price_cache()
    monkeypatch.setitem(sys.modules, "sky", None)  # `import sky` now raises ImportError
    price = price_per_hour(CATALOG["A10G"], 4, cloud="aws", live=True)
    assert price == bundled_price(CATALOG["A10G"], 4)
    clear_price_cache()


@pytest.mark.timeout(30)
def test_a_hanging_lookup_gives_up_and_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_price_cache()
    release = threading.Event()

    def hang(*_args, **_kwargs):
        release.wait(20)
        return Price(per_hour=1.0, is_estimate=False, source="too late")

    monkeypatch.setattr(pricing, "_live_price", hang)
    monkeypatch.setattr(pricing, "LIVE_TIMEOUT_SECONDS", 0.2)
    try:
        price = price_per_hour(CATALOG["B200"], 8, live=True)
    finally:
        release.set()
        clear_price_cache()
    assert price == bundled_price(CATALOG["B200"], 8)
