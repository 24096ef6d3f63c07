"""Choosing where tensors live: ``auto`` prefers CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "available_devices", "resolve_dtype"]


def available_devices() -> list[str]:
    """Device names usable on this machine, CPU always last."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` -> a usable torch.device.

    An explicit device that is not available raises ValueError saying which ones are.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device(available_devices()[0])
    base = name.split(":")[0]
    if base not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda or mps, got {device!r}")
    if base not in available_devices():
        raise ValueError(
            f"device {device!r} is not available here; available: {', '.join(available_devices())}"
        )
    return torch.device(name)


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``float32`` | ``float64``; MPS has no float64, so it falls back to float32 there."""
    if isinstance(dtype, torch.dtype):
        result = dtype
    elif dtype in ("float32", "float64"):
        result = getattr(torch, dtype)
    else:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if device.type == "mps" and result == torch.float64:
        return torch.float32
    return result
