"""skp: train timm image models with PyTorch Lightning from Python configs."""

from skp.errors import SkpError
from skp.registry import list_components, resolve

__all__ = ["SkpError", "list_components", "resolve"]
__version__ = "0.1.0"
