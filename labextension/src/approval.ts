/**
 * Approval requests of the tool policy, shown as JupyterLab dialogs.
 *
 * On each toolkernel kernel a notebook connects to, a comm is opened to the target
 * `toolkernel.approval` (protocol: toolkernel/kernel/_approval.py). A `request` says
 * `shown` at once, then shows a dialog: Allow once, Allow for this session, or Deny.
 * The answer goes back on the comm; a dialog left unanswered for the request's timeout
 * closes as a denial, and a `done` from the kernel (answered in another tab, timed
 * out, the cell stopped) closes it unanswered. Every field is shown as text.
 */
import { Dialog } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

/** The comm target the kernel registers for approval requests. */
export const APPROVAL_TARGET = 'toolkernel.approval';

/** The kernel implementation name of toolkernel kernels (plain and sandboxed). */
const IMPLEMENTATION = 'toolkernel';

/** Seconds past the request's timeout after which a dialog closes on its own. */
const TIMEOUT_GRACE_S = 2;

/** An answer to an approval request. */
export type ApprovalAnswer = 'allow' | 'session' | 'deny';

/** One approval request, as the kernel sends it: plain text, never markup. */
export interface IApprovalRequest {
  type: 'request';
  id: string;
  tool: string;
  server: string;
  reason: string;
  arguments: string;
  timeout_s: number;
}

interface IOpenDialog {
  dialog: Dialog<unknown>;
  /** Set when the kernel closed it: nothing is answered. */
  closedByKernel: boolean;
}

/** Opens the approval comm on toolkernel kernels and answers requests with dialogs. */
export class ApprovalDialogs {
  constructor(trans: TranslationBundle) {
    this._trans = trans;
  }

  /**
   * Listen for approval requests of `kernel`, once per kernel (again after a restart,
   * which closes the comm). A kernel that is not a toolkernel is left alone.
   */
  async listen(
    kernel: Kernel.IKernelConnection | null | undefined
  ): Promise<void> {
    if (!kernel || kernel.isDisposed || this._starting.has(kernel)) {
      return;
    }
    const known = this._comms.get(kernel);
    if (known && !known.isDisposed) {
      return;
    }
    if (known) {
      this._closeDialogsOf(known); // the kernel restarted: nobody waits for them
    }
    this._starting.add(kernel);
    try {
      const info = await kernel.info;
      if (info.implementation !== IMPLEMENTATION || kernel.isDisposed) {
        return;
      }
      const comm = kernel.createComm(APPROVAL_TARGET);
      comm.onMsg = msg => this._onMsg(comm, msg);
      comm.onClose = () => {
        this._comms.delete(kernel);
        this._closeDialogsOf(comm);
      };
      this._comms.set(kernel, comm);
      comm.open({}); // no reply comes: the kernel's comm_info lists it once open
    } catch (error) {
      console.warn(
        `toolkernel: approval dialogs are off for a kernel: ${error}`
      );
    } finally {
      this._starting.delete(kernel);
    }
  }

  private _onMsg(comm: Kernel.IComm, msg: KernelMessage.ICommMsgMsg): void {
    const data = msg.content.data as Record<string, unknown>;
    const key = `${comm.commId}:${String(data.id ?? '')}`;
    if (data.type === 'request') {
      void this._ask(comm, key, data as unknown as IApprovalRequest);
    } else if (data.type === 'done') {
      const open = this._open.get(key);
      if (open) {
        open.closedByKernel = true;
        open.dialog.reject();
      }
    }
  }

  private async _ask(
    comm: Kernel.IComm,
    key: string,
    request: IApprovalRequest
  ): Promise<void> {
    const trans = this._trans;
    const send = (data: Record<string, string>): void => {
      if (!comm.isDisposed) {
        comm.send({ id: request.id, ...data });
      }
    };
    send({ type: 'shown' });
    const dialog = new Dialog<unknown>({
      title: trans.__('Allow a tool to run?'),
      body: this._body(request),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Deny'), actions: ['deny'] }),
        Dialog.okButton({
          label: trans.__('Allow for this session'),
          displayType: 'default',
          actions: ['session']
        }),
        Dialog.okButton({ label: trans.__('Allow once'), actions: ['allow'] })
      ],
      defaultButton: 0, // Enter denies: allowing takes a deliberate click
      hasClose: false
    });
    dialog.addClass('jp-toolkernel-approval');
    dialog.node.dataset.tool = request.tool;
    const open: IOpenDialog = { dialog, closedByKernel: false };
    this._open.set(key, open);
    // Unanswered, the kernel's `done` closes it when the policy stops waiting; this
    // timer, a little later, closes it as a denial should that message never come.
    const timeout =
      (Math.max(1, Number(request.timeout_s) || 120) + TIMEOUT_GRACE_S) * 1000;
    const timer = window.setTimeout(() => dialog.reject(), timeout);
    try {
      const result = await dialog.launch();
      if (!open.closedByKernel) {
        const answer = result.button.actions.find(isAnswer) ?? 'deny';
        send({ type: 'answer', answer });
      }
    } finally {
      window.clearTimeout(timer);
      this._open.delete(key);
      dialog.dispose();
    }
  }

  /** Close, unanswered, the dialogs that came through `comm`. */
  private _closeDialogsOf(comm: Kernel.IComm): void {
    for (const [key, open] of this._open) {
      if (key.startsWith(`${comm.commId}:`)) {
        open.closedByKernel = true;
        open.dialog.reject();
      }
    }
  }

  /** The dialog's body: every field is text (a tool's arguments are hostile). */
  private _body(request: IApprovalRequest): Widget {
    const trans = this._trans;
    const node = document.createElement('div');
    node.className = 'jp-toolkernel-approval-body';
    const rows: [string, string, string][] = [
      [trans.__('Tool'), request.tool, 'tool'],
      [trans.__('Server'), request.server, 'server'],
      [trans.__('Asked because'), request.reason, 'reason']
    ];
    const list = document.createElement('dl');
    for (const [label, value, field] of rows) {
      const term = document.createElement('dt');
      term.textContent = label;
      const text = document.createElement('dd');
      text.textContent = value;
      text.dataset.field = field;
      list.append(term, text);
    }
    const argsLabel = document.createElement('dt');
    argsLabel.textContent = trans.__('Arguments');
    const args = document.createElement('pre');
    args.className = 'jp-toolkernel-approval-arguments';
    args.dataset.field = 'arguments';
    args.textContent = request.arguments;
    const holder = document.createElement('dd');
    holder.append(args);
    list.append(argsLabel, holder);
    const hint = document.createElement('p');
    hint.className = 'jp-toolkernel-hint';
    hint.textContent = trans.__(
      'Unanswered for %1 s, the call is denied.',
      Math.round(Number(request.timeout_s) || 120)
    );
    node.append(list, hint);
    return new Widget({ node });
  }

  private _trans: TranslationBundle;
  private _comms = new WeakMap<Kernel.IKernelConnection, Kernel.IComm>();
  private _starting = new WeakSet<Kernel.IKernelConnection>();
  private _open = new Map<string, IOpenDialog>();
}

function isAnswer(action: string): action is ApprovalAnswer {
  return action === 'allow' || action === 'session' || action === 'deny';
}
