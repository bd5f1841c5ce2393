"""Models: the registry of model files, their lookup and verification, and conversions.

:func:`model_path` finds a verified file; :func:`float_onnx_path` a converted float ONNX graph;
:func:`cache_dir` is the user cache, :func:`write_atomic` writes a file into it safely;
:func:`sha256_file` hashes a file. The model list with
sources and licences is :data:`~livestyle.models.registry.MODELS`.
"""

from livestyle.models.cachefile import write_atomic
from livestyle.models.convert import float_onnx_path
from livestyle.models.fetch import ENV_CACHE_DIR, ENV_MODEL_DIR, ENV_OFFLINE, cache_dir, model_path, sha256_file
from livestyle.models.registry import MODELS, ModelSpec

__all__ = [
    "ENV_CACHE_DIR", "ENV_MODEL_DIR", "ENV_OFFLINE", "MODELS", "ModelSpec",
    "cache_dir", "float_onnx_path", "model_path", "sha256_file", "write_atomic",
]
