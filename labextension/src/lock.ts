/**
 * The renderer of `%tools lock` outputs (MIME type `application/vnd.toolkernel.lock+json`):
 * a short summary of the locked tools, and, inside a notebook, the lock written into the
 * notebook's metadata (`metadata.toolkernel.lock`) so that the next save keeps it.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { TranslationBundle } from '@jupyterlab/translation';
import { JSONExt, JSONObject, PartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

/** The MIME type `%tools lock` displays. */
export const LOCK_MIME_TYPE = 'application/vnd.toolkernel.lock+json';

/** The notebook metadata key the lock is kept under. */
export const METADATA_KEY = 'toolkernel';

/** What one tool is pinned to: a registry version, or an MCP tool's schema hash. */
export interface ILockEntry {
  version?: number;
  schema?: string;
}

/** The lock: every pinned tool by qualified name. */
export interface ILock {
  tools: Record<string, ILockEntry>;
}

/** The lock in `data`, or null when `data` does not hold one. */
export function lockOf(data: unknown): ILock | null {
  if (!isObject(data) || !isObject(data.lock) || !isObject(data.lock.tools)) {
    return null;
  }
  return data.lock as unknown as ILock;
}

/** Renders a lock as text (never as HTML) and records it in the notebook it is in. */
export class LockRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    options: IRenderMime.IRendererOptions,
    notebooks: INotebookTracker | null,
    trans: TranslationBundle
  ) {
    super();
    this._mimeType = options.mimeType;
    this._notebooks = notebooks;
    this._trans = trans;
    this.addClass('jp-toolkernel-lock');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const lock = lockOf(model.data[this._mimeType]);
    this._lock = lock;
    this.node.replaceChildren(...this._summary(lock));
    if (this.isAttached) {
      this._record();
    }
  }

  protected onAfterAttach(): void {
    this._record();
  }

  private _summary(lock: ILock | null): HTMLElement[] {
    const trans = this._trans;
    const heading = document.createElement('div');
    heading.className = 'jp-toolkernel-lock-heading';
    if (lock === null) {
      heading.textContent = trans.__(
        'Not a toolkernel lock: it has no "lock.tools".'
      );
      return [heading];
    }
    const names = Object.keys(lock.tools).sort();
    heading.textContent = trans._n(
      'Locked %1 tool',
      'Locked %1 tools',
      names.length
    );
    const list = document.createElement('ul');
    list.className = 'jp-toolkernel-lock-tools';
    for (const name of names) {
      const item = document.createElement('li');
      const code = document.createElement('code');
      code.textContent = name;
      const pin = document.createElement('span');
      pin.className = 'jp-toolkernel-lock-pin';
      pin.textContent = pinText(lock.tools[name], trans);
      item.append(code, pin);
      list.append(item);
    }
    return [heading, list];
  }

  /** Write the lock into the notebook this output is in, if any (and if it changed). */
  private _record(): void {
    const lock = this._lock;
    const panel = this._notebookPanel();
    const model = panel?.model;
    if (lock === null || !model) {
      return; // render only: not in a notebook (or not a lock)
    }
    const current = model.getMetadata(METADATA_KEY);
    const base: PartialJSONObject = isObject(current)
      ? (current as PartialJSONObject)
      : {};
    const next = { ...base, lock: lock as unknown as JSONObject };
    if (!JSONExt.deepEqual(base, next)) {
      model.setMetadata(METADATA_KEY, next);
    }
  }

  private _notebookPanel(): NotebookPanel | null {
    return (
      this._notebooks?.find(panel => panel.node.contains(this.node)) ?? null
    );
  }

  private _mimeType: string;
  private _notebooks: INotebookTracker | null;
  private _trans: TranslationBundle;
  private _lock: ILock | null = null;
}

function pinText(entry: ILockEntry, trans: TranslationBundle): string {
  const parts: string[] = [];
  if (typeof entry.version === 'number') {
    parts.push(trans.__('version %1', entry.version));
  }
  if (typeof entry.schema === 'string') {
    parts.push(trans.__('schema %1', entry.schema));
  }
  return parts.join(', ');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
