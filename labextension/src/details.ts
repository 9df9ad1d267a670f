/**
 * One tool in detail: its Python signature and docstring, schemas, annotation badges and
 * current version; and its versions, with a diff between any two and rollback. A
 * registry tool can be deleted (softly) here, and a deleted one restored.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Signal, ISignal } from '@lumino/signaling';
import { Panel, TabBar, Title, Widget } from '@lumino/widgets';

import { kindIcon } from './kinds';
import { requestAPI } from './request';
import { IDiff, IToolDetails, IVersionList, IVersionRecord } from './types';

type Tab = 'details' | 'versions';
const TABS: readonly Tab[] = ['details', 'versions'];

/**
 * Shows the tool the list opened, under two tabs (a Lumino `TabBar`): Details and
 * Versions; or a deleted tool, with its versions and a Restore button. Emits `insert`
 * with a call snippet, `changed` after a rollback, a delete or a restore.
 */
export class ToolDetailsView extends Panel {
  constructor(trans: TranslationBundle) {
    super();
    this._trans = trans;
    this.addClass('jp-toolkernel-details');
    this._header.addClass('jp-toolkernel-details-header');
    this._tabs = new TabBar<Widget>({
      tabsMovable: false,
      allowDeselect: false
    });
    this._tabs.addClass('jp-toolkernel-tabs');
    for (const tab of TABS) {
      const title = new Title<Widget>({
        owner: this._body,
        className: 'jp-toolkernel-tab',
        dataset: { tab }
      });
      this._tabs.addTab(title);
    }
    this._tabs.currentChanged.connect((_, changed) => {
      const tab = TABS[changed.currentIndex];
      if (tab !== undefined && tab !== this._tab) {
        this._render(tab);
      }
    });
    this._body.addClass('jp-toolkernel-tab-body');
    this._body.node.setAttribute('role', 'tabpanel');
    this._body.node.setAttribute('aria-live', 'polite');
    this.addWidget(this._header);
    this.addWidget(this._tabs);
    this.addWidget(this._body);
    this._showPlaceholder();
  }

  /** Emitted with a ready-to-run call when "Insert call" is pressed. */
  get insert(): ISignal<this, string> {
    return this._insert;
  }

  /** Emitted after a rollback, a delete or a restore changed the registry. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The tool shown, if any. */
  get toolName(): string | null {
    return this._details?.name ?? this._deletedName;
  }

  /** Load and show `name`. */
  async showTool(name: string): Promise<void> {
    this._details = await requestAPI<IToolDetails>(
      `tools/${encodeURIComponent(name)}`
    );
    this._deletedName = null;
    this._render('details');
  }

  /**
   * Show deleted tool `name`: its versions (the newest is the delete) and a Restore
   * button. A tool restored meanwhile is shown as a live tool instead.
   */
  async showDeleted(name: string): Promise<void> {
    const trans = this._trans;
    const list = await requestAPI<IVersionList>(
      `tools/${encodeURIComponent(name)}/versions`
    );
    if (!list.deleted) {
      await this.showTool(name);
      return;
    }
    this._details = null;
    this._deletedName = name;
    const title = document.createElement('h3');
    title.textContent = name;
    this._header.node.replaceChildren(
      title,
      badge(trans.__('deleted'), 'deleted')
    );
    this._header.show();
    this._tabs.hide();
    const restore = document.createElement('button');
    restore.className = 'jp-mod-styled jp-mod-accept jp-toolkernel-restore';
    restore.textContent = trans.__('Restore');
    restore.title = trans.__(
      'Bring %1 back as it was when deleted (as a new version)',
      name
    );
    restore.addEventListener('click', () => void this._restore(name));
    this._body.node.replaceChildren(
      note(
        trans.__(
          'Deleted (version %1): it is gone from the list, search and notebooks. Its history is kept.',
          list.current ?? 0
        )
      ),
      restore
    );
    this._body.node.scrollTop = 0;
    await this._renderVersions(name, this._body.node, list);
  }

  /** Reload the tool shown (the registry changed), keeping the open tab. */
  async refresh(): Promise<void> {
    if (this._deletedName !== null) {
      try {
        await this.showDeleted(this._deletedName);
      } catch {
        this._deletedName = null;
        this._showPlaceholder();
      }
    } else if (this._details !== null) {
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
    this._bodyRenders += 1;
    this._header.hide();
    this._tabs.hide();
    this._body.node.replaceChildren(
      note(
        this._trans.__(
          'Open a tool to see its signature, schemas and versions.'
        )
      )
    );
  }

  private _render(tab: Tab): void {
    const details = this._details;
    if (details === null) {
      return;
    }
    const trans = this._trans;
    this._tab = tab;
    const title = document.createElement('h3');
    title.textContent = details.name;
    this._header.node.replaceChildren(
      kindIcon(details.kind).element({ className: 'jp-toolkernel-kind' }),
      title
    );
    if (details.version !== null) {
      this._header.node.append(badge(`v${details.version}`, 'version'));
    }
    const [detailsTitle, versionsTitle] = this._tabs.titles;
    detailsTitle.label = trans.__('Details');
    versionsTitle.label = trans.__('Versions (%1)', details.versions);
    this._tabs.currentIndex = TABS.indexOf(tab);
    this._header.show();
    this._tabs.show();
    this._body.node.replaceChildren();
    this._body.node.scrollTop = 0;
    this._bodyRenders += 1; // a versions list still loading must not land here
    if (tab === 'details') {
      this._renderDetails(details, this._body.node);
    } else {
      void this._renderVersions(details.name, this._body.node);
    }
  }

  private _renderDetails(details: IToolDetails, body: HTMLElement): void {
    const trans = this._trans;
    const badges = document.createElement('div');
    badges.className = 'jp-toolkernel-badges';
    badges.append(badge(details.kind, 'kind'));
    const hints: [keyof NonNullable<IToolDetails['annotations']>, string][] = [
      ['readOnlyHint', trans.__('read-only')],
      ['destructiveHint', trans.__('destructive')],
      ['idempotentHint', trans.__('idempotent')],
      ['openWorldHint', trans.__('open world')]
    ];
    for (const [key, label] of hints) {
      if (details.annotations?.[key] === true) {
        badges.append(badge(label, key));
      }
    }
    const insert = document.createElement('button');
    insert.className = 'jp-mod-styled jp-mod-accept jp-toolkernel-insert';
    insert.textContent = trans.__('Insert call');
    insert.title = trans.__(
      'Put %1 into the active notebook cell',
      details.call
    );
    insert.addEventListener('click', () => this._insert.emit(details.call));
    const actions = document.createElement('div');
    actions.className = 'jp-toolkernel-details-actions';
    actions.append(insert);
    if (details.kind !== 'mcp') {
      const remove = document.createElement('button');
      remove.className = 'jp-mod-styled jp-mod-warn jp-toolkernel-delete';
      remove.textContent = trans.__('Delete');
      remove.title = trans.__(
        'Delete %1 (its history is kept; it can be restored)',
        details.name
      );
      remove.addEventListener('click', () => void this._delete(details.name));
      actions.append(remove);
    }
    body.append(
      badges,
      section(
        trans.__('Signature'),
        code(`async def ${details.signature}`, 'jp-toolkernel-signature')
      ),
      section(trans.__('Call'), code(details.call, 'jp-toolkernel-call')),
      actions,
      section(trans.__('Docstring'), code(details.doc || details.description)),
      section(
        trans.__('Input schema'),
        code(JSON.stringify(details.input_schema, null, 2))
      )
    );
    if (details.output_schema !== null) {
      body.append(
        section(
          trans.__('Output schema'),
          code(JSON.stringify(details.output_schema, null, 2))
        )
      );
    }
  }

  private async _renderVersions(
    name: string,
    body: HTMLElement,
    loaded?: IVersionList
  ): Promise<void> {
    const trans = this._trans;
    // Renders overlap (a rollback re-renders while the list's refresh does): only the
    // newest may fill the body, or the versions would show twice.
    const render = ++this._bodyRenders;
    const list =
      loaded ??
      (await requestAPI<IVersionList>(
        `tools/${encodeURIComponent(name)}/versions`
      ));
    if (render !== this._bodyRenders) {
      return;
    }
    if (list.versions.length === 0) {
      body.append(
        note(trans.__('An MCP tool: its server versions it, not the registry.'))
      );
      return;
    }
    const newest = list.versions[list.versions.length - 1].version;
    const pick = { a: Math.max(1, newest - 1), b: newest };
    const diffView = document.createElement('pre');
    diffView.className = 'jp-toolkernel-diff';
    const showDiff = async (): Promise<void> => {
      const diff = await requestAPI<IDiff>(
        `tools/${encodeURIComponent(name)}/diff?a=${pick.a}&b=${pick.b}`
      );
      renderDiff(diffView, diff.diff, trans.__('(no differences)'));
    };
    // One stacked row per version (newest first): nothing side by side that could
    // overflow a narrow panel.
    const versions = document.createElement('div');
    versions.className = 'jp-toolkernel-versions';
    versions.setAttribute('role', 'list');
    for (const record of [...list.versions].reverse()) {
      versions.append(
        this._versionRow(name, record, list.current, pick, showDiff)
      );
    }
    const hint = note(
      trans.__('Diff: pick an old side (A) and a new side (B).')
    );
    body.append(hint, versions, section(trans.__('Diff'), diffView));
    await showDiff();
  }

  private _versionRow(
    name: string,
    record: IVersionRecord,
    current: number | null,
    pick: { a: number; b: number },
    showDiff: () => Promise<void>
  ): HTMLElement {
    const trans = this._trans;
    const row = document.createElement('div');
    row.className = 'jp-toolkernel-version-row';
    row.setAttribute('role', 'listitem');
    const head = document.createElement('div');
    head.className = 'jp-toolkernel-version-head';
    const label = document.createElement('strong');
    label.textContent = `v${record.version}`;
    head.append(label);
    if (record.deleted) {
      head.append(badge(trans.__('deleted'), 'deleted'));
    } else if (record.version === current) {
      head.append(badge(trans.__('current'), 'current'));
    }
    const when = document.createElement('span');
    when.className = 'jp-toolkernel-version-when';
    when.textContent = new Date(record.created_at * 1000).toLocaleString();
    head.append(when);
    row.append(head);
    const text = [record.note];
    if (record.rollback_of !== null) {
      text.push(trans.__('(rollback to v%1)', record.rollback_of));
    }
    const noteText = text.filter(Boolean).join(' ');
    if (noteText) {
      const noteNode = document.createElement('div');
      noteNode.className = 'jp-toolkernel-version-note';
      noteNode.textContent = noteText;
      row.append(noteNode);
    }
    const actions = document.createElement('div');
    actions.className = 'jp-toolkernel-version-actions';
    for (const side of ['a', 'b'] as const) {
      const choice = document.createElement('label');
      const radio = document.createElement('input');
      radio.type = 'radio';
      radio.name = `jp-toolkernel-diff-${side}`;
      radio.checked = pick[side] === record.version;
      radio.setAttribute(
        'aria-label',
        trans.__('diff side %1: version %2', side.toUpperCase(), record.version)
      );
      radio.addEventListener('change', () => {
        pick[side] = record.version;
        void showDiff();
      });
      choice.append(radio, side.toUpperCase());
      actions.append(choice);
    }
    if (record.version !== current && !record.deleted) {
      const button = document.createElement('button');
      button.className = 'jp-mod-styled jp-toolkernel-rollback';
      button.textContent = trans.__('Roll back');
      button.title = trans.__(
        'Make version %1 current again (as a new version)',
        record.version
      );
      button.addEventListener(
        'click',
        () => void this._rollback(name, record.version)
      );
      actions.append(button);
    }
    row.append(actions);
    return row;
  }

  private async _rollback(name: string, version: number): Promise<void> {
    const trans = this._trans;
    const result = await showDialog({
      title: trans.__('Roll back %1?', name),
      body: trans.__(
        'Version %1 becomes current again, written as a new version. History is kept.',
        version
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Roll back') })
      ]
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

  private async _delete(name: string): Promise<void> {
    const trans = this._trans;
    const result = await showDialog({
      title: trans.__('Delete %1?', name),
      body: trans.__(
        'It leaves the list, search and every notebook at once. Its history is kept, and Restore brings it back.'
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Delete') })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    await requestAPI(`tools/${encodeURIComponent(name)}/delete`, {
      method: 'POST',
      body: JSON.stringify({})
    });
    await this.showDeleted(name);
    this._changed.emit();
  }

  private async _restore(name: string): Promise<void> {
    await requestAPI(`tools/${encodeURIComponent(name)}/restore`, {
      method: 'POST',
      body: JSON.stringify({})
    });
    await this.showTool(name);
    this._changed.emit();
  }

  private _trans: TranslationBundle;
  private _header = new Widget();
  private _tabs: TabBar<Widget>;
  private _body = new Widget();
  private _details: IToolDetails | null = null;
  private _deletedName: string | null = null;
  private _tab: Tab = 'details';
  private _bodyRenders = 0;
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

function renderDiff(node: HTMLElement, diff: string, empty: string): void {
  node.replaceChildren();
  if (!diff) {
    node.textContent = empty;
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
