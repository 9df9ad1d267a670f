"""A tool session without ipykernel: registry, host, bindings, discovery, skills, lock.

`Toolbox` is what a kernel (`toolkernel.kernel`), the server extension, the CLI and the
bridge's tooling share; none of them pays for importing ipykernel through it. How one
call's progress, output, logs and client requests reach a person is the front end's
business (`FrontEnd`), which the kernel supplies.
"""

from toolkernel.session._discovery import Discovery, Listing, ToolDetails
from toolkernel.session._frontend import CallObservers, FrontEnd
from toolkernel.session._toolbox import Toolbox

__all__ = ["CallObservers", "Discovery", "FrontEnd", "Listing", "ToolDetails", "Toolbox"]
