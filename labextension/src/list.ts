/**
 * The tool list: grouped by source, windowed (only visible rows are in the DOM), and
 * usable by keyboard (arrow keys move, Enter opens). Deleted registry tools come last,
 * in their own group, so they can be opened and restored.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { deleteIcon, LabIcon } from '@jupyterlab/ui-components';
import { Signal, ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { compareGroups, groupOf, IGroup, kindIcon } from './kinds';
import { IDeletedTool, IToolSummary } from './types';

const ROW_HEIGHT = 26;
const OVERSCAN = 8;

type Row =
  | { type: 'group'; label: string; count: number; icon: LabIcon }
  | {
      type: 'tool';
      tool: IToolSummary;
      showsNamespace: boolean;
      deleted?: boolean;
    };

/** A windowed, grouped list of tools. Nothing is selected until a row is chosen. */
export class ToolList extends Widget {
  constructor(trans: TranslationBundle) {
    super();
    this._trans = trans;
    this.addClass('jp-toolkernel-list');
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'listbox');
    this.node.setAttribute('aria-label', trans.__('Tools'));
    this._spacer = document.createElement('div');
    this._spacer.className = 'jp-toolkernel-list-spacer';
    this._empty = document.createElement('div');
    this._empty.className = 'jp-toolkernel-list-empty';
    this.node.append(this._spacer, this._empty);
    this.node.addEventListener('scroll', () => this._render());
    this.node.addEventListener('keydown', event => this._onKey(event));
    this.node.addEventListener('click', event => this._onClick(event));
  }

  /** Emitted with a tool's name when it is opened (click, or Enter). */
  get opened(): ISignal<this, string> {
    return this._opened;
  }

  /**
   * Show `tools` (already ranked or sorted by the server), grouped as `compareGroups`
   * orders them; within a group the server's order is kept. The tool selected before
   * stays selected if it is still listed. `deleted` tools follow, in a group of their own.
   */
  setTools(
    tools: IToolSummary[],
    emptyText: string,
    deleted: IDeletedTool[] = []
  ): void {
    const selected = this._selectedName();
    const groups = new Map<
      string,
      { group: IGroup; members: IToolSummary[] }
    >();
    for (const tool of tools) {
      const group = groupOf(tool, this._trans);
      const key = `${group.kind}:${group.label}`;
      const entry = groups.get(key) ?? { group, members: [] };
      entry.members.push(tool);
      groups.set(key, entry);
    }
    const ordered = [...groups.values()].sort((a, b) =>
      compareGroups(a.group, b.group)
    );
    this._rows = [];
    for (const { group, members } of ordered) {
      const icon = kindIcon(group.kind);
      this._rows.push({
        type: 'group',
        label: group.label,
        count: members.length,
        icon
      });
      for (const tool of members) {
        this._rows.push({
          type: 'tool',
          tool,
          showsNamespace: group.showsNamespace
        });
      }
    }
    if (deleted.length > 0) {
      this._rows.push({
        type: 'group',
        label: this._trans.__('Deleted'),
        count: deleted.length,
        icon: deleteIcon
      });
      for (const gone of deleted) {
        const [source, ...rest] = gone.name.split('.');
        const tool: IToolSummary = {
          name: gone.name,
          source,
          tool: rest.join('.'),
          kind: gone.kind,
          title: null,
          description: this._trans.__('deleted: open it to restore it'),
          annotations: null,
          version: null
        };
        this._rows.push({
          type: 'tool',
          tool,
          showsNamespace: true,
          deleted: true
        });
      }
    }
    this._selected = this._rows.findIndex(
      row => row.type === 'tool' && row.tool.name === selected
    );
    this._empty.textContent = tools.length === 0 ? emptyText : '';
    this._spacer.style.height = `${this._rows.length * ROW_HEIGHT}px`;
    this.node.scrollTop = 0;
    this._render();
  }

  /** How many tool rows the list holds (deleted tools not counted). */
  get toolCount(): number {
    return this._rows.filter(row => row.type === 'tool' && !row.deleted).length;
  }

  protected onResize(): void {
    this._render();
  }

  protected onAfterShow(): void {
    this._render();
  }

  private _selectedName(): string | null {
    const row = this._rows[this._selected];
    return row?.type === 'tool' ? row.tool.name : null;
  }

  private _render(): void {
    const height = this.node.clientHeight || 600;
    const first = Math.max(
      0,
      Math.floor(this.node.scrollTop / ROW_HEIGHT) - OVERSCAN
    );
    const last = Math.min(
      this._rows.length,
      Math.ceil((this.node.scrollTop + height) / ROW_HEIGHT) + OVERSCAN
    );
    const fragment = document.createDocumentFragment();
    for (let index = first; index < last; index++) {
      fragment.appendChild(this._rowNode(index));
    }
    this._spacer.replaceChildren(fragment);
  }

  private _rowNode(index: number): HTMLElement {
    const row = this._rows[index];
    const node = document.createElement('div');
    node.style.top = `${index * ROW_HEIGHT}px`;
    node.dataset.index = String(index);
    if (row.type === 'group') {
      node.className = 'jp-toolkernel-group';
      node.setAttribute('role', 'presentation');
      node.append(row.icon.element({ className: 'jp-toolkernel-kind' }));
      const label = document.createElement('span');
      label.className = 'jp-toolkernel-group-label';
      label.textContent = row.label;
      const count = document.createElement('span');
      count.className = 'jp-toolkernel-count';
      count.textContent = String(row.count);
      node.append(label, count);
      return node;
    }
    const tool = row.tool;
    node.className = row.deleted
      ? 'jp-toolkernel-row jp-toolkernel-row-deleted'
      : 'jp-toolkernel-row';
    node.setAttribute('role', 'option');
    node.id = `jp-toolkernel-option-${index}`;
    node.setAttribute('aria-selected', String(index === this._selected));
    node.setAttribute('aria-label', tool.name);
    node.title = tool.description
      ? `${tool.name}\n${tool.description}`
      : tool.name;
    node.append(
      kindIcon(tool.kind).element({ className: 'jp-toolkernel-kind' })
    );
    const label = document.createElement('span');
    label.className = 'jp-toolkernel-label';
    if (row.showsNamespace) {
      const namespace = document.createElement('span');
      namespace.className = 'jp-toolkernel-namespace';
      namespace.textContent = `${tool.source}.`;
      label.append(namespace);
    }
    const name = document.createElement('span');
    name.className = 'jp-toolkernel-name';
    name.textContent = tool.tool;
    label.append(name);
    const description = document.createElement('span');
    description.className = 'jp-toolkernel-description';
    description.textContent = tool.description.split('\n')[0];
    node.append(label, description);
    if (tool.version !== null) {
      const version = document.createElement('span');
      version.className = 'jp-toolkernel-version';
      version.textContent = `v${tool.version}`;
      node.append(version);
    }
    return node;
  }

  private _onClick(event: MouseEvent): void {
    const target = event.target as HTMLElement;
    const row = target.closest<HTMLElement>('.jp-toolkernel-row');
    if (row?.dataset.index !== undefined) {
      this._select(Number(row.dataset.index));
      this._open();
    }
  }

  private _onKey(event: KeyboardEvent): void {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      let next = this._selected + step;
      while (
        next >= 0 &&
        next < this._rows.length &&
        this._rows[next].type !== 'tool'
      ) {
        next += step;
      }
      if (next >= 0 && next < this._rows.length) {
        this._select(next);
      }
    } else if (event.key === 'Enter') {
      event.preventDefault();
      this._open();
    }
  }

  private _select(index: number): void {
    this._selected = index;
    const top = index * ROW_HEIGHT;
    if (top < this.node.scrollTop) {
      this.node.scrollTop = top;
    } else if (
      top + ROW_HEIGHT >
      this.node.scrollTop + this.node.clientHeight
    ) {
      this.node.scrollTop = top + ROW_HEIGHT - this.node.clientHeight;
    }
    this.node.setAttribute(
      'aria-activedescendant',
      `jp-toolkernel-option-${index}`
    );
    this._render();
  }

  private _open(): void {
    const row = this._rows[this._selected];
    if (row?.type === 'tool') {
      this._opened.emit(row.tool.name);
    }
  }

  private _trans: TranslationBundle;
  private _rows: Row[] = [];
  private _selected = -1;
  private _spacer: HTMLDivElement;
  private _empty: HTMLDivElement;
  private _opened = new Signal<this, string>(this);
}
