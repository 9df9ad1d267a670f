/**
 * The "Calls" section of the Tools panel: the newest tool calls of every kernel on this
 * home (the audit), from `GET history`: when, which tool, how big its arguments were,
 * how it ended, and what the tool policy's approval said. Every field is text.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './request';
import { ICallHistory, ICallRecord } from './types';

/** How many calls the section shows. */
export const CALLS_SHOWN = 20;

/** The section: a Refresh button and a table of recent calls. */
export class CallHistoryView extends Widget {
  constructor(trans: TranslationBundle) {
    super();
    this._trans = trans;
    this.addClass('jp-toolkernel-calls');
    const bar = document.createElement('div');
    bar.className = 'jp-toolkernel-calls-bar';
    const refresh = document.createElement('button');
    refresh.className = 'jp-mod-styled jp-toolkernel-calls-refresh';
    refresh.textContent = trans.__('Refresh');
    refresh.title = trans.__('Load the newest tool calls');
    refresh.addEventListener('click', () => void this.refresh());
    this._status.className = 'jp-toolkernel-hint';
    this._status.setAttribute('aria-live', 'polite');
    bar.append(refresh, this._status);
    this._rows.className = 'jp-toolkernel-call-rows';
    this.node.append(bar, this._rows);
  }

  /** Load the newest calls; overlapping loads land newest only. */
  async refresh(): Promise<void> {
    const trans = this._trans;
    const ticket = ++this._ticket;
    try {
      const { calls } = await requestAPI<ICallHistory>(
        `history?limit=${CALLS_SHOWN}`
      );
      if (ticket !== this._ticket) {
        return;
      }
      this._show(calls);
    } catch (error) {
      if (ticket === this._ticket) {
        this._status.textContent = trans.__(
          'Could not load the calls: %1',
          (error as Error).message
        );
      }
    }
  }

  private _show(calls: ICallRecord[]): void {
    const trans = this._trans;
    this._status.textContent = calls.length
      ? trans._n('%1 recent call', '%1 recent calls', calls.length)
      : trans.__('No tool calls yet.');
    this._rows.replaceChildren(...calls.map(call => this._row(call)));
  }

  /** Two lines: the tool and how it ended; then when, how big, and the approval. */
  private _row(call: ICallRecord): HTMLElement {
    const trans = this._trans;
    const row = document.createElement('li');
    row.className = `jp-toolkernel-call jp-toolkernel-call-${call.outcome}`;
    row.dataset.tool = call.tool;
    row.dataset.outcome = call.outcome;
    row.dataset.approval = call.approval ?? '';
    const tool = field('span', 'tool', call.tool);
    tool.classList.add('jp-toolkernel-call-tool');
    const outcome = field('span', 'outcome', call.outcome);
    outcome.classList.add('jp-toolkernel-badge', 'jp-toolkernel-call-outcome');
    const when = new Date(call.started_at * 1000);
    const meta = document.createElement('div');
    meta.className = 'jp-toolkernel-call-meta';
    meta.append(
      field('span', 'time', when.toLocaleTimeString()),
      field(
        'span',
        'size',
        trans.__('%1 of arguments', formatBytes(call.arguments_bytes))
      )
    );
    if (call.approval) {
      meta.append(
        field('span', 'approval', approvalText(call.approval, trans))
      );
    }
    row.append(tool, outcome, meta);
    const cause = call.error ? `\n${call.error}` : '';
    row.title = trans.__(
      '%1 at %2, %3 s%4',
      call.tool,
      when.toLocaleString(),
      call.duration_s.toFixed(3),
      cause
    );
    return row;
  }

  private _trans: TranslationBundle;
  private _status = document.createElement('span');
  private _rows = document.createElement('ul');
  private _ticket = 0;
}

/** `512 B`, `1.5 kB`: an argument size in few characters. */
function formatBytes(size: number): string {
  return size < 1000 ? `${size} B` : `${(size / 1000).toFixed(1)} kB`;
}

/** A text element with `data-field`: what tests and styles find it by. */
function field(tag: string, name: string, text: string): HTMLElement {
  const node = document.createElement(tag);
  node.dataset.field = name;
  node.textContent = text;
  return node;
}

/** `allowed:person` as "allowed by the person", and the like; unknown forms as is. */
function approvalText(approval: string, trans: TranslationBundle): string {
  const [decision, who] = approval.split(':', 2);
  const labels: Record<string, string> = {
    allowed: trans.__('allowed by %1', who),
    remembered: trans.__('allowed for the session by %1', who),
    denied:
      who === 'timeout'
        ? trans.__('denied: not answered in time')
        : trans.__('denied by %1', who)
  };
  return who ? (labels[decision] ?? approval) : approval;
}
