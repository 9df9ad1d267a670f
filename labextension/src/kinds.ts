/**
 * How each kind of tool is shown: its icon, the group it is listed under, and the order
 * of the groups.
 */
import {
  buildIcon,
  codeIcon,
  extensionIcon,
  fileIcon,
  LabIcon,
  listIcon
} from '@jupyterlab/ui-components';
import { TranslationBundle } from '@jupyterlab/translation';

import { IToolSummary, ToolKind } from './types';

const ICONS: Record<ToolKind, LabIcon> = {
  mcp: extensionIcon,
  wasm: buildIcon,
  script: codeIcon,
  pipeline: listIcon,
  skill: fileIcon
};

/**
 * The order of the groups: every MCP server first (alphabetically, one group each),
 * then the registry's kinds from the smallest unit to the largest: WASM tools, script
 * tools, pipelines (which call tools) and skills (which call anything).
 */
const KIND_ORDER: readonly ToolKind[] = [
  'mcp',
  'wasm',
  'script',
  'pipeline',
  'skill'
];

/** A group of the list: one MCP server, or one registry kind. */
export interface IGroup {
  /** Where the group's kind stands in `KIND_ORDER`. */
  rank: number;
  kind: ToolKind;
  /** What the group header says. */
  label: string;
  /** Whether the group's rows show each tool's namespace (its header does not). */
  showsNamespace: boolean;
}

/** The icon of a kind of tool. */
export function kindIcon(kind: ToolKind): LabIcon {
  return ICONS[kind] ?? extensionIcon;
}

/**
 * The group `tool` is listed under: its MCP server (whose name the header shows), or
 * its kind for registry tools, whose rows then show the namespace (`local.jot` and
 * `shared.jot` are both "jot" otherwise).
 */
export function groupOf(tool: IToolSummary, trans: TranslationBundle): IGroup {
  const rank = Math.max(0, KIND_ORDER.indexOf(tool.kind));
  if (tool.kind === 'mcp') {
    return { rank, kind: 'mcp', label: tool.source, showsNamespace: false };
  }
  const labels: Record<Exclude<ToolKind, 'mcp'>, string> = {
    wasm: trans.__('WASM tools'),
    script: trans.__('Script tools'),
    pipeline: trans.__('Pipelines'),
    skill: trans.__('Skills')
  };
  return {
    rank,
    kind: tool.kind,
    label: labels[tool.kind],
    showsNamespace: true
  };
}

/** Orders groups as `KIND_ORDER` says, MCP servers alphabetically. */
export function compareGroups(a: IGroup, b: IGroup): number {
  return a.rank - b.rank || a.label.localeCompare(b.label);
}
