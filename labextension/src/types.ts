/**
 * The shapes the toolkernel REST API answers with (see toolkernel.serverext), and the
 * data of the lock output (`%tools lock`).
 */

export type ToolKind = 'mcp' | 'wasm' | 'script' | 'pipeline' | 'skill';

export interface IAnnotations {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
  title?: string;
}

export interface IToolSummary {
  name: string;
  source: string;
  tool: string;
  kind: ToolKind;
  title: string | null;
  description: string;
  annotations: IAnnotations | null;
  version: number | null;
}

/** A deleted registry tool: gone from the list and search, restorable. */
export interface IDeletedTool {
  name: string;
  kind: ToolKind;
  /** The delete's version number (its history stays). */
  version: number;
}

export interface IToolList {
  query: string;
  /** How many tools there are in all, whatever the query. */
  total: number;
  tools: IToolSummary[];
  /** The deleted registry tools, which a restore brings back. */
  deleted: IDeletedTool[];
}

export interface IToolDetails extends IToolSummary {
  signature: string;
  doc: string;
  call: string;
  input_schema: Record<string, unknown>;
  output_schema: Record<string, unknown> | null;
  versions: number;
}

export interface IVersionRecord {
  version: number;
  created_at: number;
  note: string;
  author: string;
  content_hash: string;
  rollback_of: number | null;
  /** Whether this version is the tool's delete (a tombstone). */
  deleted: boolean;
}

export interface IVersionList {
  name: string;
  current: number | null;
  versions: IVersionRecord[];
  /** Whether the tool is deleted now (its current version is then the delete). */
  deleted: boolean;
}

export interface IDiff {
  name: string;
  a: number;
  b: number;
  diff: string;
}

/**
 * A server's state. `not_started`: it is in mcp.json but no kernel has published a
 * status for it yet; nothing is wrong with it.
 */
export type ServerState =
  'not_started' | 'connecting' | 'connected' | 'failed' | 'disabled';

export interface IServerStatus {
  name: string;
  state: ServerState;
  detail: string | null;
  tool_count: number | null;
  updated_at: number;
}

export interface IServerList {
  servers: IServerStatus[];
  config_error?: string | null;
}

/** One tool call of the call history (`GET history`), newest first. */
export interface ICallRecord {
  tool: string;
  arguments_bytes: number;
  duration_s: number;
  /** `ok`, `error`, `failed`, `cancelled` or `refused`. */
  outcome: string;
  /** Unix time, in seconds. */
  started_at: number;
  error: string | null;
  execution_count: number | null;
  pid: number | null;
  /** `allowed:<who>`, `remembered:<who>`, `denied:<who>`, or null: none was asked. */
  approval: string | null;
}

export interface ICallHistory {
  calls: ICallRecord[];
}
