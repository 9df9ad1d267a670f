/**
 * One tool in detail: its Python signature and docstring, schemas, annotation badges and
 * current version; and its versions, with a diff between any two and rollback.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Signal, ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { kindIcon } from './kinds';
import { requestAPI } from './request';
import { IDiff, IToolDetails, IVersionList, IVersionRecord } from './types';

const BADGES: [keyof NonNullable<IToolDetails['annotations']>, string][] = [
  ['readOnlyHint', 'read-only'],
  ['destructiveHint', 'destructive'],
  ['idempotentHint', 'idempotent'],
  ['openWorldHint', 'open world']
];

/** Shows the tool the list opened; emits `insert` with a call snippet, `changed` after a rollback. */
export class ToolDetailsView extends Widget {
  constructor() {
    super();
    this.addClass('jp-toolkernel-details');
    this.node.setAttribute('aria-live', 'polite');
    this._showPlaceholder();
  }

  /** Emitted with a ready-to-run call when "Insert call" is pressed. */
  get insert(): ISignal<this, string> {
    return this._insert;
  }

  /** Emitted after a rollback changed the registry. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The tool shown, if any. */
  get toolName(): string | null {
    return this._details?.name ?? null;
  }

  /** Load and show `name`. */
  async showTool(name: string): Promise<void> {
    this._details = await requestAPI<IToolDetails>(`tools/${encodeURIComponent(name)}`);
    this._render('details');
  }

  /** Reload the tool shown (the registry changed), keeping the open tab. */
  async refresh(): Promise<void> {
    if (this._details !== null) {
      const tab = this._tab;
      try {
        await this.showTool(this._details.name);
        this._render(tab);
      } catch {
        this._details = null;
        this._showPlaceholder();
      }
    }
  }

  private _showPlaceholder(): void {
    const hint = document.createElement('p');
    hint.className = 'jp-toolkernel-hint';
    hint.textContent = 'Open a tool to see its signature, schemas and versions.';
    this.node.replaceChildren(hint);
  }

  private _render(tab: 'details' | 'versions'): void {
    const details = this._details;
    if (details === null) {
      return;
    }
    this._tab = tab;
    const header = document.createElement('div');
    header.className = 'jp-toolkernel-details-header';
    header.append(kindIcon(details.kind).element({ className: 'jp-toolkernel-kind' }));
    const title = document.createElement('h3');
    title.textContent = details.name;
    header.append(title);
    if (details.version !== null) {
      header.append(badge(`v${details.version}`, 'version'));
    }
    const tabs = document.createElement('div');
    tabs.className = 'jp-toolkernel-tabs';
    tabs.setAttribute('role', 'tablist');
    tabs.append(
      this._tabButton('Details', 'details'),
      this._tabButton(`Versions (${details.versions})`, 'versions')
    );
    const body = document.createElement('div');
    body.className = 'jp-toolkernel-tab-body';
    body.setAttribute('role', 'tabpanel');
    this.node.replaceChildren(header, tabs, body);
    if (tab === 'details') {
      this._renderDetails(details, body);
    } else {
      void this._renderVersions(details, body);
    }
  }

  private _tabButton(label: string, tab: 'details' | 'versions'): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = 'jp-toolkernel-tab';
    button.textContent = label;
    button.setAttribute('role', 'tab');
    button.setAttribute('aria-selected', String(this._tab === tab));
    button.addEventListener('click', () => this._render(tab));
    return button;
  }

  private _renderDetails(details: IToolDetails, body: HTMLElement): void {
    const badges = document.createElement('div');
    badges.className = 'jp-toolkernel-badges';
    badges.append(badge(details.kind, 'kind'));
    for (const [key, label] of BADGES) {
      if (details.annotations?.[key] === true) {
        badges.append(badge(label, key));
      }
    }
    const insert = document.createElement('button');
    insert.className = 'jp-mod-styled jp-mod-accept jp-toolkernel-insert';
    insert.textContent = 'Insert call';
    insert.title = `Put ${details.call} into the active notebook cell`;
    insert.addEventListener('click', () => this._insert.emit(details.call));
    body.append(
      badges,
      section('Signature', code(`async def ${details.signature}`, 'jp-toolkernel-signature')),
      section('Call', code(details.call, 'jp-toolkernel-call')),
      insert,
      section('Docstring', code(details.doc || details.description)),
      section('Input schema', code(JSON.stringify(details.input_schema, null, 2)))
    );
    if (details.output_schema !== null) {
      body.append(section('Output schema', code(JSON.stringify(details.output_schema, null, 2))));
    }
  }

  private async _renderVersions(details: IToolDetails, body: HTMLElement): Promise<void> {
    const list = await requestAPI<IVersionList>(
      `tools/${encodeURIComponent(details.name)}/versions`
    );
    if (list.versions.length === 0) {
      body.append(note('An MCP tool: its server versions it, not the registry.'));
      return;
    }
    const table = document.createElement('table');
    table.className = 'jp-toolkernel-versions';
    const head = table.createTHead().insertRow();
    for (const label of ['a', 'b', 'version', 'when', 'note', '']) {
      const cell = document.createElement('th');
      cell.textContent = label;
      head.append(cell);
    }
    const rows = table.createTBody();
    const newest = list.versions[list.versions.length - 1].version;
    const pick = { a: Math.max(1, newest - 1), b: newest };
    const diffView = document.createElement('pre');
    diffView.className = 'jp-toolkernel-diff';
    const showDiff = async (): Promise<void> => {
      const diff = await requestAPI<IDiff>(
        `tools/${encodeURIComponent(details.name)}/diff?a=${pick.a}&b=${pick.b}`
      );
      renderDiff(diffView, diff.diff);
    };
    for (const record of [...list.versions].reverse()) {
      rows.append(this._versionRow(details, record, list.current, pick, showDiff));
    }
    body.append(table, diffView);
    await showDiff();
  }

  private _versionRow(
    details: IToolDetails,
    record: IVersionRecord,
    current: number | null,
    pick: { a: number; b: number },
    showDiff: () => Promise<void>
  ): HTMLTableRowElement {
    const row = document.createElement('tr');
    row.className = 'jp-toolkernel-version-row';
    for (const side of ['a', 'b'] as const) {
      const cell = row.insertCell();
      const radio = document.createElement('input');
      radio.type = 'radio';
      radio.name = `jp-toolkernel-diff-${side}`;
      radio.checked = pick[side] === record.version;
      radio.setAttribute('aria-label', `diff side ${side}: version ${record.version}`);
      radio.addEventListener('change', () => {
        pick[side] = record.version;
        void showDiff();
      });
      cell.append(radio);
    }
    row.insertCell().textContent = `v${record.version}${record.version === current ? ' (current)' : ''}`;
    row.insertCell().textContent = new Date(record.created_at * 1000).toLocaleString();
    const rollbackOf = record.rollback_of !== null ? ` (rollback to v${record.rollback_of})` : '';
    row.insertCell().textContent = `${record.note}${rollbackOf}`;
    const action = row.insertCell();
    if (record.version !== current) {
      const button = document.createElement('button');
      button.className = 'jp-mod-styled jp-toolkernel-rollback';
      button.textContent = 'Roll back';
      button.title = `Make version ${record.version} current again (as a new version)`;
      button.addEventListener('click', () => void this._rollback(details.name, record.version));
      action.append(button);
    }
    return row;
  }

  private async _rollback(name: string, version: number): Promise<void> {
    const result = await showDialog({
      title: `Roll back ${name}?`,
      body: `Version ${version} becomes current again, written as a new version. History is kept.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })]
    });
    if (!result.button.accept) {
      return;
    }
    await requestAPI(`tools/${encodeURIComponent(name)}/rollback`, {
      method: 'POST',
      body: JSON.stringify({ version })
    });
    await this.showTool(name);
    this._render('versions');
    this._changed.emit();
  }

  private _details: IToolDetails | null = null;
  private _tab: 'details' | 'versions' = 'details';
  private _insert = new Signal<this, string>(this);
  private _changed = new Signal<this, void>(this);
}

function badge(text: string, kind: string): HTMLElement {
  const node = document.createElement('span');
  node.className = `jp-toolkernel-badge jp-toolkernel-badge-${kind}`;
  node.textContent = text;
  return node;
}

function section(title: string, content: HTMLElement): HTMLElement {
  const node = document.createElement('section');
  const heading = document.createElement('h4');
  heading.textContent = title;
  node.append(heading, content);
  return node;
}

function code(text: string, className = ''): HTMLElement {
  const node = document.createElement('pre');
  node.className = `jp-toolkernel-code ${className}`.trim();
  node.textContent = text;
  return node;
}

function note(text: string): HTMLElement {
  const node = document.createElement('p');
  node.className = 'jp-toolkernel-hint';
  node.textContent = text;
  return node;
}

function renderDiff(node: HTMLElement, diff: string): void {
  node.replaceChildren();
  if (!diff) {
    node.textContent = '(no differences)';
    return;
  }
  for (const line of diff.split('\n')) {
    const span = document.createElement('span');
    if (line.startsWith('+') && !line.startsWith('+++')) {
      span.className = 'jp-toolkernel-diff-added';
    } else if (line.startsWith('-') && !line.startsWith('---')) {
      span.className = 'jp-toolkernel-diff-removed';
    } else if (line.startsWith('@@')) {
      span.className = 'jp-toolkernel-diff-hunk';
    }
    span.textContent = `${line}\n`;
    node.append(span);
  }
}
