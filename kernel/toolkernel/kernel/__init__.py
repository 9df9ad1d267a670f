"""The Toolkernel Jupyter kernel and what it preloads."""

from toolkernel.kernel._discovery import Discovery, ToolDetails
from toolkernel.kernel._kernel import ToolKernel
from toolkernel.kernel._toolbox import Toolbox

__all__ = ["Discovery", "ToolDetails", "ToolKernel", "Toolbox"]
