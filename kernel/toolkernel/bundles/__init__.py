"""Tools as files: tool folders, bundles (folder or `.tar.gz`), and imports from git.

- `read_tool_folder` / `write_tool_folder`: one tool as `tool.json` plus its files (or
  an Agent Skills folder), the form a repository's `tools/` folder takes and hot reload
  watches.
- `export_tools(registry, names, path, history=False)`: a bundle with a manifest,
  each tool's folder and, optionally, its whole version history.
- `import_tools(factory, source, overwrite=False)`: from a folder, a bundle, a
  `.tar.gz`, a git or gist URL, or Skillz `manifest.json` folders; everything is
  checked (paths, archive members, sizes, collisions) before anything is written.
"""

from toolkernel.bundles._export import BUNDLE_FILE, export_tools
from toolkernel.bundles._folder import (
    TOOL_FILE,
    ToolSource,
    find_tool_folders,
    is_tool_folder,
    read_tool_folder,
    write_tool_folder,
)
from toolkernel.bundles._git import GitSource, git_source
from toolkernel.bundles._import import ImportedTool, import_tools
from toolkernel.bundles._paths import BundleLimits, check_archive, safe_member

__all__ = [
    "BUNDLE_FILE",
    "TOOL_FILE",
    "BundleLimits",
    "GitSource",
    "ImportedTool",
    "ToolSource",
    "check_archive",
    "export_tools",
    "find_tool_folders",
    "git_source",
    "import_tools",
    "is_tool_folder",
    "read_tool_folder",
    "safe_member",
    "write_tool_folder",
]
