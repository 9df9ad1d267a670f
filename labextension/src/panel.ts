/**
 * The "Tools" side panel: a search box that filters as you type, each MCP server's
 * status, the grouped tool list, the details of the tool opened, and the recent calls.
 */
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { FilterBox, ReactWidget, SidePanel } from '@jupyterlab/ui-components';
import { IPoll, Poll } from '@lumino/polling';
import { Signal, ISignal } from '@lumino/signaling';
import { AccordionPanel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { CallHistoryView } from './calls';
import { ToolDetailsView } from './details';
import { ToolList } from './list';
import { requestAPI } from './request';
import { IServerList, IServerStatus, IToolList } from './types';

/** Milliseconds between the last keystroke and the search. */
export const SEARCH_DEBOUNCE_MS = 150;
/** Seconds between checks for registry changes while the panel is visible (a setting). */
export const DEFAULT_REFRESH_INTERVAL_S = 2;

/** The side panel. */
export class ToolsPanel extends SidePanel {
  constructor(options: ToolsPanel.IOptions) {
    super({ translator: options.translator });
    const trans = options.translator.load('toolkernel');
    this._bundle = trans;
    this.id = 'jp-toolkernel-panel';
    this.addClass('jp-toolkernel-panel');
    this.title.caption = trans.__('Tools');
    this._list = new ToolList(trans);
    this._details = new ToolDetailsView(trans);
    this._calls = new CallHistoryView(trans);

    const search = ReactWidget.create(
      React.createElement(FilterBox, {
        placeholder: trans.__('Search tools'),
        updateFilter: (_filter, query) => this._scheduleSearch(query ?? ''),
        useFuzzyFilter: false,
        showIcon: true
      })
    );
    search.addClass('jp-toolkernel-search');
    search.node.setAttribute('aria-label', trans.__('Search tools'));
    search.node.addEventListener('keydown', event => {
      if (event.key === 'ArrowDown') {
        this._list.node.focus();
      }
    });
    this._summary.className = 'jp-toolkernel-summary';
    this._summary.setAttribute('aria-live', 'polite');
    const summary = new Widget({ node: this._summary });
    this.header.addClass('jp-toolkernel-header');
    this.header.addWidget(search);
    this.header.addWidget(summary);

    this._servers.addClass('jp-toolkernel-servers');
    this._servers.node.append(this._serverRows);
    this._serverRows.className = 'jp-toolkernel-server-rows';
    this._servers.title.label = trans.__('Servers');
    this._list.title.label = trans.__('Tools');
    this._details.title.label = trans.__('Details');
    this._calls.title.label = trans.__('Calls');
    this.addWidget(this._servers);
    this.addWidget(this._list);
    this.addWidget(this._details);
    this.addWidget(this._calls);
    this.content.addClass('jp-toolkernel-sections');
    if (this.content instanceof AccordionPanel) {
      this.content.setRelativeSizes([1, 4, 4, 3]);
    }
    this._list.opened.connect((_, name) => void this._open(name));
    this._details.changed.connect(() => void this.refresh());
    this._poll = new Poll({
      factory: () => this._checkGeneration(),
      frequency: this._frequency(DEFAULT_REFRESH_INTERVAL_S),
      standby: () => (this.isVisible ? false : 'when-hidden'),
      name: '@toolkernel/labextension:generation'
    });
  }

  /** The details view (its `insert` signal carries call snippets). */
  get details(): ToolDetailsView {
    return this._details;
  }

  /** Emitted after each list refresh, with the number of tools shown. */
  get refreshed(): ISignal<this, number> {
    return this._refreshed;
  }

  /** Seconds between checks for registry changes while the panel is visible. */
  set refreshInterval(seconds: number) {
    this._poll.frequency = this._frequency(seconds);
  }

  /** Reload servers, the list (for the current search), the tool shown and the calls. */
  async refresh(): Promise<void> {
    await Promise.all([
      this._loadServers(),
      this._loadTools(),
      this._details.refresh(),
      this._calls.refresh()
    ]);
  }

  /** Reload the recent calls, when the panel is visible (it reloads when shown). */
  async refreshCalls(): Promise<void> {
    if (this.isVisible) {
      await this._calls.refresh();
    }
  }

  dispose(): void {
    this._poll.dispose();
    window.clearTimeout(this._timer);
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._fitServers();
  }

  private _frequency(seconds: number): IPoll.Frequency {
    const interval = Math.max(0.5, seconds) * 1000;
    return { interval, backoff: true, max: Math.max(30000, interval) };
  }

  private _scheduleSearch(query: string): void {
    if (query.trim() === this._query) {
      return;
    }
    this._query = query.trim();
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(
      () => void this._loadTools(),
      SEARCH_DEBOUNCE_MS
    );
  }

  private async _loadTools(): Promise<void> {
    const trans = this._bundle;
    const query = this._query;
    const ticket = ++this._ticket;
    try {
      const found = await requestAPI<IToolList>(
        query ? `tools?q=${encodeURIComponent(query)}` : 'tools'
      );
      if (ticket !== this._ticket) {
        return; // a newer search answered first
      }
      const empty = query
        ? trans.__('No tool matches "%1".', query)
        : trans.__('No tools yet.');
      // A search finds live tools only; the plain list ends with the deleted ones.
      const deleted = query ? [] : (found.deleted ?? []);
      this._deleted = new Set(deleted.map(tool => tool.name));
      this._list.setTools(found.tools, empty, deleted);
      this._list.node.dataset.query = query; // which search the list shows (for tests)
      this._summary.textContent = query
        ? trans.__('%1 of %2 tools match', found.tools.length, found.total)
        : trans._n('%1 tool', '%1 tools', found.total);
      this._refreshed.emit(found.tools.length);
    } catch (error) {
      this._summary.textContent = trans.__(
        'Could not load tools: %1',
        (error as Error).message
      );
    }
  }

  private async _loadServers(): Promise<void> {
    const trans = this._bundle;
    try {
      const list = await requestAPI<IServerList>('servers');
      const nodes = list.servers.map(server => this._serverRow(server));
      if (list.config_error) {
        const error = document.createElement('div');
        error.className = 'jp-toolkernel-server-detail jp-toolkernel-error';
        error.textContent = list.config_error;
        nodes.push(error);
      }
      if (nodes.length === 0) {
        const none = document.createElement('p');
        none.className = 'jp-toolkernel-hint';
        none.textContent = trans.__('No MCP servers in mcp.json.');
        nodes.push(none);
      }
      this._serverRows.replaceChildren(...nodes);
    } catch (error) {
      this._serverRows.textContent = trans.__(
        'Could not load servers: %1',
        (error as Error).message
      );
    }
    this._fitServers();
  }

  private _serverRow(server: IServerStatus): HTMLElement {
    const trans = this._bundle;
    const node = document.createElement('div');
    node.className = `jp-toolkernel-server jp-toolkernel-server-${server.state}`;
    node.dataset.state = server.state;
    const name = document.createElement('span');
    name.className = 'jp-toolkernel-server-name';
    name.textContent = server.name;
    const state = document.createElement('span');
    state.className = 'jp-toolkernel-badge jp-toolkernel-state';
    const labels: Record<IServerStatus['state'], string> = {
      not_started: trans.__('not started'),
      connecting: trans.__('connecting'),
      connected: trans.__('connected'),
      failed: trans.__('failed'),
      disabled: trans.__('disabled')
    };
    state.textContent =
      server.state === 'connected' && server.tool_count !== null
        ? trans._n(
            'connected, %1 tool',
            'connected, %1 tools',
            server.tool_count
          )
        : (labels[server.state] ?? server.state);
    node.append(name, state);
    if (server.detail) {
      const detail = document.createElement('div');
      detail.className = 'jp-toolkernel-server-detail';
      if (server.state === 'failed') {
        detail.classList.add('jp-toolkernel-error');
      }
      detail.textContent = server.detail;
      node.append(detail);
      node.title = server.detail;
    }
    return node;
  }

  /**
   * Give the Servers section the room its rows need, no more (the list and the details
   * share the rest), and at most 40% of the panel: a long list of servers scrolls.
   */
  private _fitServers(): void {
    const needed = this._serverRows.offsetHeight;
    if (needed === 0 || !(this.content instanceof AccordionPanel)) {
      return; // hidden: measured again when shown
    }
    const computed = getComputedStyle(this._servers.node);
    const padding =
      parseFloat(computed.paddingTop) + parseFloat(computed.paddingBottom);
    const height = Math.ceil(needed + padding);
    // At most 40% of the panel, so the list and the details always keep room.
    const minHeight = `${Math.min(height, Math.floor(this.content.node.clientHeight * 0.4))}px`;
    const maxHeight = `${height}px`;
    const style = this._servers.node.style;
    if (style.maxHeight !== maxHeight || style.minHeight !== minHeight) {
      style.minHeight = minHeight;
      style.maxHeight = maxHeight;
      this.content.fit();
    }
  }

  private async _open(name: string): Promise<void> {
    if (this._deleted.has(name)) {
      await this._details.showDeleted(name);
    } else {
      await this._details.showTool(name);
    }
    this._details.node.scrollIntoView({ block: 'nearest' });
  }

  private async _checkGeneration(): Promise<void> {
    const { generation } = await requestAPI<{ generation: string }>(
      'generation'
    );
    if (this._generation !== null && generation !== this._generation) {
      await this.refresh();
    }
    this._generation = generation;
  }

  private _bundle: TranslationBundle;
  private _query = '';
  private _summary = document.createElement('div');
  private _servers = new Widget();
  private _serverRows = document.createElement('div');
  private _list: ToolList;
  private _details: ToolDetailsView;
  private _calls: CallHistoryView;
  private _poll: Poll;
  private _timer = 0;
  private _ticket = 0;
  private _generation: string | null = null;
  private _deleted = new Set<string>();
  private _refreshed = new Signal<this, number>(this);
}

/** The panel's options. */
export namespace ToolsPanel {
  export interface IOptions {
    translator: ITranslator;
  }
}
