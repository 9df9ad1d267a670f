/**
 * How each kind of tool is shown: its icon, and the group it is listed under.
 */
import {
  buildIcon,
  codeIcon,
  extensionIcon,
  fileIcon,
  LabIcon,
  listIcon
} from '@jupyterlab/ui-components';

import { IToolSummary, ToolKind } from './types';

const ICONS: Record<ToolKind, LabIcon> = {
  mcp: extensionIcon,
  wasm: buildIcon,
  script: codeIcon,
  pipeline: listIcon,
  skill: fileIcon
};

const GROUPS: Record<Exclude<ToolKind, 'mcp'>, string> = {
  wasm: 'WASM tools',
  script: 'Script tools',
  pipeline: 'Pipelines',
  skill: 'Skills'
};

/** The icon of a kind of tool. */
export function kindIcon(kind: ToolKind): LabIcon {
  return ICONS[kind] ?? extensionIcon;
}

/** The group a tool is listed under: its MCP server, or its kind for registry tools. */
export function groupOf(tool: IToolSummary): string {
  return tool.kind === 'mcp' ? tool.source : GROUPS[tool.kind];
}
