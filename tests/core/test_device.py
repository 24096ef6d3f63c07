"""Choosing a device: ``auto`` picks what exists, an unavailable device is refused with a
message naming the ones that are, and the whole engine runs on an explicit ``cpu``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kanstudio import KAN
from kanstudio.core import available_devices, resolve_device, resolve_dtype

NO_CUDA = not torch.cuda.is_available()


def test_cpu_is_always_available_and_listed_last() -> None:
    names = available_devices()
    assert names[-1] == "cpu" and len(set(names)) == len(names)


def test_auto_picks_the_first_available_device() -> None:
    assert resolve_device("auto") == torch.device(available_devices()[0])
    assert resolve_device(" AUTO ").type == available_devices()[0]


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_auto_is_cpu_without_an_accelerator() -> None:
    if "mps" in available_devices():
        pytest.skip("this machine has Apple MPS")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA"])
def test_missing_cuda_is_refused_naming_the_available_devices(name: str) -> None:
    with pytest.raises(ValueError, match="not available") as info:
        resolve_device(name)
    assert "cpu" in str(info.value) and name in str(info.value)


def test_unknown_device_names_are_refused() -> None:
    for name in ("tpu", "gpu", ""):
        with pytest.raises(ValueError, match="auto, cpu, cuda or mps"):
            resolve_device(name)


def test_explicit_devices_pass_through() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_dtype_resolution() -> None:
    cpu = torch.device("cpu")
    assert resolve_dtype("float64", cpu) == torch.float64
    assert resolve_dtype(torch.float32, cpu) == torch.float32
    assert resolve_dtype("float64", torch.device("mps")) == torch.float32  # MPS has no float64
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("float16", cpu)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_fitting_on_missing_cuda_fails_before_training() -> None:
    X = np.linspace(-1, 1, 40)[:, None]
    with pytest.raises(ValueError, match="available: .*cpu"):
        KAN(width=[1, 2, 1], device="cuda").fit(X, X[:, 0], steps=1)


def test_whole_path_on_explicit_cpu(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (120, 2))
    y = X[:, 0] * X[:, 1]
    model = KAN(width=[2, 2, 1], seed=0, device="cpu", dtype="float32").fit(X, y, steps=3)
    assert model.network_.device.type == "cpu" and model.network_.dtype == torch.float32
    pred = model.predict(X)
    assert pred.dtype == np.float64 and np.isfinite(pred).all()
    smaller = model.prune_edge(0, 1, 0).refine(grid=7)
    assert smaller.network_.device.type == "cpu" and smaller.network_.grid_size == 7
    path = tmp_path / "cpu.kstudio"
    smaller.save(path)
    back = KAN.load(path, device="cpu")
    assert back.network_.device.type == "cpu" and back.network_.dtype == torch.float32
    assert np.array_equal(back.predict(X), smaller.predict(X))
