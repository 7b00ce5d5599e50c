"""Argument checks of the Triton ops, with the messages of the C++ ops'
TORCH_CHECKs."""
from typing import Optional

import torch
from torch import Tensor

from .launch import INTERPRET

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_DTYPE_NAMES = "float32, float16 or bfloat16"


def _shape(t: Tensor) -> str:
    return str(list(t.shape))


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise RuntimeError(message)


def _check_tensor(op: str, t: Tensor, name: str, dtype: Optional[torch.dtype] = None) -> None:
    _check(isinstance(t, Tensor), f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    _check(t.dtype in _DTYPES,
           f"{op}: expected {name} of dtype {_DTYPE_NAMES}, got {str(t.dtype).split('.')[-1]}")
    if dtype is not None:
        _check(t.dtype == dtype,
               f"{op}: expected {name} of the same dtype as the input ({str(dtype).split('.')[-1]}), "
               f"got {str(t.dtype).split('.')[-1]}")
    if not INTERPRET:
        _check(t.is_cuda,
               f"{op}: expected {name} on a CUDA device (Triton kernels), got it on {t.device}; "
               "to run them on CPU tensors, set TRITON_INTERPRET=1 before importing "
               "sqbert_kernels.triton_ops")


def _check_devices(op: str, *tensors: Optional[Tensor]) -> None:
    devices = [t.device for t in tensors if t is not None]
    _check(all(d == devices[0] for d in devices),
           f"{op}: expected all tensors on one device, got {devices}")
