"""The GPU catalogue and `NAME:COUNT` parsing."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequest
from core.gpus import CATALOG, AcceleratorRequest, get_gpu, parse_accelerators

REQUIRED = [
    "T4", "L4", "A10", "A10G", "L40S", "V100", "V100-32GB", "A100", "A100-80GB", "H100", "H200",
    "B200", "H20", "MI300X", "MI355X", "L40", "A40", "A6000", "RTXPRO6000", "GB200", "B300",
    "H100-MEGA", "MI250X", "MI325X",
]  # fmt: skip


@pytest.mark.parametrize("name", REQUIRED)
def test_required_parts_are_listed_under_skypilot_spelling(name: str) -> None:
    assert CATALOG[name].name == name


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_catalogue_gpu_parses_in_any_case(name: str) -> None:
    for spelling in (name, name.lower(), name.upper()):
        request = parse_accelerators(f"{spelling}:1")
        assert request.gpu is CATALOG[name]
        assert str(request) == f"{name}:1"
    assert parse_accelerators(name).count == 1


@pytest.mark.parametrize("spec", list(CATALOG.values()), ids=list(CATALOG))
def test_specs_are_consistent(spec) -> None:
    assert spec.memory_gib > 10
    assert spec.gpus_per_node >= 1
    assert spec.price_per_gpu_hour > 0
    if spec.vendor == "amd":
        assert spec.compute_capability is None
        assert spec.arch.startswith("cdna")
    else:
        assert spec.compute_capability is not None and spec.compute_capability >= 7.0
        # Hardware FP8 exactly from Ada (8.9) on.
        assert spec.fp8_native == (spec.compute_capability >= 8.9)


def test_memory_is_what_the_engines_see() -> None:
    # memory.md: "80GB" parts expose about 79.2 GiB, an L4 about 22.5 GiB.
    assert CATALOG["H100"].memory_gib == pytest.approx(79.2, abs=0.1)
    assert CATALOG["A100-80GB"].memory_gib == pytest.approx(79.2, abs=0.1)
    assert CATALOG["L4"].memory_gib == pytest.approx(22.5, abs=0.1)
    assert CATALOG["A100"].memory_gib < 40
    assert CATALOG["MI300X"].memory_gib > CATALOG["H200"].memory_gib > CATALOG["H100"].memory_gib


def test_fp8_and_arch_facts() -> None:
    assert not CATALOG["A100"].fp8_native
    assert CATALOG["L4"].fp8_native and CATALOG["H100"].fp8_native
    assert CATALOG["MI300X"].fp8_native and not CATALOG["MI250X"].fp8_native
    assert CATALOG["MI355X"].arch == "cdna4"


def test_parse_name_and_count() -> None:
    request = parse_accelerators("a100-80gb:2")
    assert request == AcceleratorRequest(gpu=CATALOG["A100-80GB"], count=2)
    assert request.nodes == 1
    assert request.per_node_spec == "A100-80GB:2"
    assert parse_accelerators("  L4 : 4 ").count == 4


def test_count_above_one_node_means_several_nodes() -> None:
    request = parse_accelerators("H100:16")
    assert (request.count, request.nodes, request.gpus_per_node) == (16, 2, 8)
    assert request.per_node_spec == "H100:8"
    gb = parse_accelerators("GB200:8")
    assert (gb.nodes, gb.per_node_spec) == (2, "GB200:4")


def test_count_that_does_not_split_into_nodes_is_refused_with_what_works() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_accelerators("H100:12")
    message = str(err.value)
    assert "H100:8" in message and "H100:16" in message and "8" in message


def test_absurd_node_counts_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="nodes"):
        parse_accelerators("H100:4096")


def test_an_absurd_count_that_does_not_split_says_the_node_ceiling() -> None:
    # Not "try H100:99999999999999999992 (12499999999999999999 nodes)": the ceiling is the answer.
    with pytest.raises(InvalidRequest, match="the most the bot launches is 64 nodes") as err:
        parse_accelerators("H100:99999999999999999999")
    assert "Try" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A100:", "no GPU count"),
        ("A100:0", "at least 1"),
        ("A100:x", "whole number"),
        ("A100:-2", "whole number"),
        ("A100:1.5", "whole number"),
        (":2", "no GPU name"),
        ("", "No GPU given"),
        ("   ", "No GPU given"),
    ],
)
def test_malformed_text_gets_a_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        parse_accelerators(text)


def test_unknown_name_lists_closest_known_names() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_accelerators("A100-96GB:2")  # no A100 has 96 GB
    assert "A100-80GB" in str(err.value)
    with pytest.raises(InvalidRequest) as err:
        get_gpu("h10")
    assert "H100" in str(err.value)


def test_get_gpu_is_case_insensitive() -> None:
    assert get_gpu("mi300x") is CATALOG["MI300X"]
    assert get_gpu("rtxpro6000").name == "RTXPRO6000"


@pytest.mark.parametrize(
    # (H100-80GB and A100-40GB are spellings the catalogue resolves now: see below.)
    ("typed", "meant"),
    [("H100-SXM6", "H100"), ("A100-96GB", "A100"), ("mi300", "MI300X")],
)
def test_suffixed_or_partial_names_suggest_the_family_first(typed: str, meant: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        get_gpu(typed)
    assert str(err.value).split("Closest known names: ")[1].startswith(meant)


# --- spellings people type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "names"),
    [
        # SkyPilot calls the 40 GB A100 `A100` (sky/catalog/data_fetchers/fetch_lambda_cloud.py: A100 40960 MiB;
        # fetch_fluidstack.py: A100_SXM4_40GB and A100_PCIE_40GB -> A100).
        ("A100-40GB", ["A100"]),
        ("a100-40g", ["A100"]),
        ("A100-SXM4-40GB", ["A100"]),
        ("A100-80G", ["A100-80GB"]),
        ("H100-80GB", ["H100"]),
        ("L40S-48GB", ["L40S"]),
        ("L4-24GB", ["L4"]),
        ("H200-141GB", ["H200"]),
        ("MI300X-192GB", ["MI300X"]),
        ("NVIDIA-H100", ["H100"]),
        ("Tesla-T4", ["T4"]),
        ("H200-NVL", ["NVIDIA-H200-NVL"]),
        # RunPod/Fluidstack spell GeForce cards without a hyphen: RTX3090 (fetch_runpod.py says so).
        ("RTX-3090", ["RTX3090"]),
        ("rtx_3090", ["RTX3090"]),
        ("3090", ["RTX3090"]),
        ("RTX-4090", ["RTX4090"]),
        # One part, several catalogue names: AWS/GCP/Azure's A100-80GB and H100 are SXM parts, RunPod
        # and others list A100-80GB-SXM and H100-SXM separately.
        ("A100-80GB-SXM4", ["A100-80GB", "A100-80GB-SXM"]),
        ("H100-SXM5", ["H100", "H100-SXM"]),
        ("RTX-A6000", ["A6000", "RTXA6000"]),
        ("rtx-6000-ada", ["RTX6000-Ada", "RTX6000Ada"]),
        ("H100-PCIe", ["H100"]),
    ],
)
def test_common_spellings_resolve_to_skypilot_names(typed: str, names: list[str]) -> None:
    request = parse_accelerators(f"{typed}:2")
    assert list(request.names) == names
    assert request.per_node_specs == [f"{name}:2" for name in names]
    assert get_gpu(typed) is CATALOG[names[0]]


def test_exact_catalogue_names_mean_only_themselves() -> None:
    for name in ("H100", "H100-SXM", "A100-80GB", "A6000", "RTX6000-Ada"):
        assert parse_accelerators(name).names == (name,)


def test_a_spelling_that_means_several_names_round_trips_through_its_text() -> None:
    request = parse_accelerators("H100-SXM5:16")
    assert str(request) == "H100,H100-SXM:16"
    again = parse_accelerators(str(request))
    assert again == request and again.names == ("H100", "H100-SXM")
    assert (again.nodes, again.per_node_specs) == (2, ["H100:8", "H100-SXM:8"])


def test_a_list_of_different_parts_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="lists different GPUs"):
        parse_accelerators("A100-80GB,H100:1")
    with pytest.raises(InvalidRequest, match="empty GPU name"):
        parse_accelerators("H100,:1")


def test_a_memory_size_the_part_does_not_have_is_unknown() -> None:
    with pytest.raises(InvalidRequest, match="Unknown GPU `H100-94GB`"):
        parse_accelerators("H100-94GB")  # that is the H100 NVL, not SkyPilot's H100


def test_skypilot_catalogue_gpus_people_rent_are_listed() -> None:
    # RunPod/Fluidstack catalogue names (sky/catalog/data_fetchers/fetch_runpod.py, fetch_fluidstack.py).
    for name in ("RTX3090", "RTX3090-Ti", "RTXA5000", "RTX5000-Ada"):
        assert CATALOG[name].memory_gib >= 23
