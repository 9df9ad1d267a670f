/**
 * The "Tools" side panel: a search box that filters as you type, each MCP server's
 * status, the grouped tool list and the details of the tool opened.
 */
import { SidePanel } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import { Signal, ISignal } from '@lumino/signaling';
import { AccordionPanel, Widget } from '@lumino/widgets';

import { ToolDetailsView } from './details';
import { ToolList } from './list';
import { requestAPI } from './request';
import { IServerList, IToolList } from './types';

/** Milliseconds between the last keystroke and the search. */
export const SEARCH_DEBOUNCE_MS = 150;
/** Milliseconds between checks for registry changes while the panel is visible. */
export const REFRESH_INTERVAL_MS = 2000;

/** The side panel. */
export class ToolsPanel extends SidePanel {
  constructor() {
    super();
    this.id = 'jp-toolkernel-panel';
    this.addClass('jp-toolkernel-panel');
    this.title.caption = 'Tools';
    this._search = document.createElement('input');
    this._search.type = 'search';
    this._search.className = 'jp-toolkernel-search jp-mod-styled';
    this._search.placeholder = 'Search tools';
    this._search.setAttribute('aria-label', 'Search tools');
    this._search.addEventListener('input', () => this._scheduleSearch());
    this._search.addEventListener('keydown', event => {
      if (event.key === 'ArrowDown') {
        this._list.node.focus();
      }
    });
    this._summary = document.createElement('div');
    this._summary.className = 'jp-toolkernel-summary';
    this._summary.setAttribute('aria-live', 'polite');
    const header = new Widget();
    header.addClass('jp-toolkernel-header');
    header.node.append(this._search, this._summary);
    this.header.addWidget(header);

    this._servers.addClass('jp-toolkernel-servers');
    this._servers.title.label = 'Servers';
    this._list.title.label = 'Tools';
    this._details.title.label = 'Details';
    this.addWidget(this._servers);
    this.addWidget(this._list);
    this.addWidget(this._details);
    this.content.addClass('jp-toolkernel-sections');
    // Server badges take little room; the list and the details share the rest.
    if (this.content instanceof AccordionPanel) {
      this.content.setRelativeSizes([1, 4, 4]);
    }
    this._list.opened.connect((_, name) => void this._open(name));
    this._details.changed.connect(() => void this.refresh());
    this._poll = new Poll({
      factory: () => this._checkGeneration(),
      frequency: { interval: REFRESH_INTERVAL_MS, backoff: true, max: 30000 },
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

  /** Reload servers, the list (for the current search) and the tool shown. */
  async refresh(): Promise<void> {
    await Promise.all([this._loadServers(), this._loadTools(), this._details.refresh()]);
  }

  dispose(): void {
    this._poll.dispose();
    window.clearTimeout(this._timer);
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _scheduleSearch(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => void this._loadTools(), SEARCH_DEBOUNCE_MS);
  }

  private async _loadTools(): Promise<void> {
    const query = this._search.value.trim();
    const ticket = ++this._ticket;
    try {
      const found = await requestAPI<IToolList>(
        query ? `tools?q=${encodeURIComponent(query)}` : 'tools'
      );
      if (ticket !== this._ticket) {
        return; // a newer search answered first
      }
      const empty = query ? `No tool matches "${query}".` : 'No tools yet.';
      this._list.setTools(found.tools, empty);
      this._list.node.dataset.query = query; // which search the list shows (for tests)
      this._summary.textContent = query
        ? `${found.tools.length} of ${found.total} tools match`
        : `${found.total} tools`;
      this._refreshed.emit(found.tools.length);
    } catch (error) {
      this._summary.textContent = `Could not load tools: ${(error as Error).message}`;
    }
  }

  private async _loadServers(): Promise<void> {
    try {
      const list = await requestAPI<IServerList>('servers');
      const nodes = list.servers.map(server => {
        const node = document.createElement('div');
        node.className = `jp-toolkernel-server jp-toolkernel-server-${server.state}`;
        const name = document.createElement('span');
        name.className = 'jp-toolkernel-server-name';
        name.textContent = server.name;
        const state = document.createElement('span');
        state.className = 'jp-toolkernel-badge jp-toolkernel-state';
        state.textContent =
          server.state === 'connected' && server.tool_count !== null
            ? `connected, ${server.tool_count} tools`
            : server.state;
        node.append(name, state);
        if (server.detail) {
          const detail = document.createElement('div');
          detail.className = 'jp-toolkernel-server-detail';
          detail.textContent = server.detail;
          node.append(detail);
          node.title = server.detail;
        }
        return node;
      });
      if (list.config_error) {
        const error = document.createElement('div');
        error.className = 'jp-toolkernel-server-detail';
        error.textContent = list.config_error;
        nodes.push(error);
      }
      if (nodes.length === 0) {
        const none = document.createElement('p');
        none.className = 'jp-toolkernel-hint';
        none.textContent = 'No MCP servers in mcp.json.';
        nodes.push(none);
      }
      this._servers.node.replaceChildren(...nodes);
    } catch (error) {
      this._servers.node.textContent = `Could not load servers: ${(error as Error).message}`;
    }
  }

  private async _open(name: string): Promise<void> {
    await this._details.showTool(name);
    this._details.node.scrollIntoView({ block: 'nearest' });
  }

  private async _checkGeneration(): Promise<void> {
    const { generation } = await requestAPI<{ generation: string }>('generation');
    if (this._generation !== null && generation !== this._generation) {
      await this.refresh();
    }
    this._generation = generation;
  }

  private _search: HTMLInputElement;
  private _summary: HTMLDivElement;
  private _servers = new Widget();
  private _list = new ToolList();
  private _details = new ToolDetailsView();
  private _poll: Poll;
  private _timer = 0;
  private _ticket = 0;
  private _generation: string | null = null;
  private _refreshed = new Signal<this, number>(this);
}
