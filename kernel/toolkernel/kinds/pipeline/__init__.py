"""The `pipeline` kind: declarative steps, each a call of another tool.

`${input.x}`, `${prev}`, `${steps.<id>.result.path[0]}` and `${steps.<id>.error}` (also
in Skillz's whole-string spelling, `$input.x`) resolve inside strings and as whole values
(type kept); `when` conditions skip steps; a `continue_on_error` step fails without
stopping the pipeline; pipelines can call pipelines, and a cycle is refused when the
pipeline is created.
"""

from toolkernel.kinds.pipeline._check import check_pipeline
from toolkernel.kinds.pipeline._kind import PipelineKind

__all__ = ["PipelineKind", "check_pipeline"]
