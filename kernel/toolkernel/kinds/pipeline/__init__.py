"""The `pipeline` kind: declarative steps, each a call of another tool.

`${input.x}` and `${steps.<id>.result.path[0]}` resolve inside strings and as whole
values (type kept); `when` conditions skip steps; pipelines can call pipelines, and a
cycle is refused when the pipeline is created.
"""

from toolkernel.kinds.pipeline._check import check_pipeline
from toolkernel.kinds.pipeline._kind import PipelineKind

__all__ = ["PipelineKind", "check_pipeline"]
