"""DLPack export of facert's device memory: a ``dltensor`` PyCapsule built with ctypes.

A consumer (``torch.from_dlpack``, ``cupy.from_dlpack``, ``numpy.from_dlpack`` for host memory)
calls ``__dlpack__`` and takes the capsule: it renames it ``used_dltensor`` and calls the managed
tensor's deleter when it is done with the memory. Until then the tensor's Python side (the structs,
its shape and strides arrays, and the owner of the memory) stays referenced from :data:`_ALIVE`; the
deleter drops that reference. A capsule nobody consumed calls the deleter when it is collected. The
owner of the memory is referenced, never freed, by the capsule: one owner per pointer (closing the
owner frees the memory whatever consumers remain, as for every view).

The layout is DLPack's unversioned ``DLManagedTensor`` (dlpack.h, ABI 0.x, which every consumer
still takes); :func:`dlpack_capsule` builds it for any device type, so the CPU tests check the very
same structs with ``numpy.from_dlpack`` on host memory.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from facert.errors import UsageError

KDL_CPU, KDL_CUDA, KDL_CUDA_HOST = 1, 2, 3
_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}  # kDLInt, kDLUInt, kDLFloat, kDLBool
_NAME = b"dltensor"


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter)]


# address of a live DLManagedTensor -> what it needs kept alive (structs, arrays, the owner)
_ALIVE: dict[int, tuple[Any, ...]] = {}


def _delete(address: int | None) -> None:
    _ALIVE.pop(int(address or 0), None)


_DELETER = _Deleter(_delete)
_pythonapi = ctypes.pythonapi
_pythonapi.PyCapsule_New.restype = ctypes.py_object
_pythonapi.PyCapsule_New.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
_pythonapi.PyCapsule_IsValid.restype = ctypes.c_int
_pythonapi.PyCapsule_IsValid.argtypes = (ctypes.c_void_p, ctypes.c_char_p)
_pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
_pythonapi.PyCapsule_GetPointer.argtypes = (ctypes.c_void_p, ctypes.c_char_p)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule: int) -> None:
    """A capsule collected unconsumed (still named ``dltensor``) frees its tensor."""
    if _pythonapi.PyCapsule_IsValid(capsule, _NAME):
        _delete(_pythonapi.PyCapsule_GetPointer(capsule, _NAME))


def data_type(dtype: Any) -> DLDataType:
    """DLPack's type of a NumPy dtype (ints, unsigned ints, floats, bool; one lane)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in _CODES or dtype.byteorder == ">":
        raise UsageError(f"no DLPack type for {dtype} (ints, unsigned ints, floats, bool)")
    return DLDataType(_CODES[dtype.kind], dtype.itemsize * 8, 1)


def dlpack_capsule(
    pointer: int,
    shape: tuple[int, ...],
    dtype: Any,
    strides: tuple[int, ...] | None,
    device: tuple[int, int],
    owner: object,
) -> Any:
    """A ``dltensor`` capsule of the memory at ``pointer``: ``shape`` elements of ``dtype``,
    ``strides`` in BYTES (None: C-contiguous) on ``device`` (DLPack device type, index), keeping
    ``owner`` referenced until the consumer is done."""
    dtype = np.dtype(dtype)
    ndim = len(shape)
    shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_array = None
    if strides is not None:
        if any(s % dtype.itemsize for s in strides):
            raise UsageError(f"strides {strides} are not whole {dtype.name} elements")
        strides_array = (ctypes.c_int64 * max(ndim, 1))(*(s // dtype.itemsize for s in strides))
    managed = DLManagedTensor()
    managed.dl_tensor = DLTensor(
        ctypes.c_void_p(pointer),
        DLDevice(*device),
        ndim,
        data_type(dtype),
        ctypes.cast(shape_array, ctypes.POINTER(ctypes.c_int64)),
        None
        if strides_array is None
        else ctypes.cast(strides_array, ctypes.POINTER(ctypes.c_int64)),
        0,
    )
    managed.manager_ctx = None
    managed.deleter = _DELETER
    address = ctypes.addressof(managed)
    _ALIVE[address] = (managed, shape_array, strides_array, owner)
    return _pythonapi.PyCapsule_New(
        address, _NAME, ctypes.cast(_capsule_destructor, ctypes.c_void_p)
    )


def live_tensors() -> int:
    """How many exported tensors a consumer still holds (for tests: 0 once all are released)."""
    return len(_ALIVE)
