/**
 * @toolkernel/labextension: the "Tools" side panel of JupyterLab, backed by the
 * toolkernel server extension's REST API, the renderer of `%tools lock` outputs, and
 * the dialogs that ask a person to approve a tool call.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { ApprovalDialogs } from './approval';
import { LOCK_MIME_TYPE, LockRenderer } from './lock';
// The panel is added to the shell during activation, so it is needed at once.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { DEFAULT_REFRESH_INTERVAL_S, ToolsPanel } from './panel';
import toolsSvg from '../style/tools.svg';

/** The panel's icon: a toolbox. */
export const toolsIcon = new LabIcon({
  name: 'toolkernel:tools',
  svgstr: toolsSvg
});

const PANEL_PLUGIN_ID = '@toolkernel/labextension:plugin';

namespace CommandIDs {
  export const open = 'toolkernel:open-tools';
  export const insertCall = 'toolkernel:insert-call';
}

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PANEL_PLUGIN_ID,
  description:
    'A side panel that lists, searches and versions the tools of toolkernel.',
  autoStart: true,
  requires: [ILabShell],
  optional: [
    ITranslator,
    ISettingRegistry,
    INotebookTracker,
    ILayoutRestorer,
    ICommandPalette
  ],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    translator: ITranslator | null,
    settings: ISettingRegistry | null,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('toolkernel');
    const panel = new ToolsPanel({ translator: translator ?? nullTranslator });
    panel.title.icon = toolsIcon;
    labShell.add(panel, 'left', { rank: 450 });
    restorer?.add(panel, 'toolkernel-tools');

    if (settings) {
      const apply = (loaded: ISettingRegistry.ISettings): void => {
        const interval = loaded.get('refreshInterval').composite;
        panel.refreshInterval =
          typeof interval === 'number' ? interval : DEFAULT_REFRESH_INTERVAL_S;
      };
      settings
        .load(PANEL_PLUGIN_ID)
        .then(loaded => {
          apply(loaded);
          loaded.changed.connect(apply);
        })
        .catch(reason => {
          console.error(
            `toolkernel: could not load the panel's settings: ${reason}`
          );
        });
    }

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Show Tools'),
      caption: trans.__('Open the toolkernel Tools panel'),
      icon: toolsIcon,
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => labShell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.insertCall, {
      label: trans.__('Insert Tool Call'),
      caption: trans.__(
        'Put a ready-to-run call into the active notebook cell'
      ),
      isEnabled: () =>
        notebooks?.activeCell !== null && notebooks?.activeCell !== undefined,
      describedBy: {
        args: {
          type: 'object',
          properties: {
            code: {
              type: 'string',
              description: trans.__('The code to insert')
            }
          },
          required: ['code']
        }
      },
      execute: args => insertCall(notebooks, String(args['code'] ?? ''))
    });
    palette?.addItem({
      command: CommandIDs.open,
      category: trans.__('Toolkernel')
    });
    panel.details.insert.connect((_, code) => {
      void app.commands.execute(CommandIDs.insertCall, { code });
    });
    // A cell that finished may have called tools: show them in the Calls section.
    eachNotebook(notebooks, notebook => {
      notebook.sessionContext.statusChanged.connect((_, status) => {
        if (status === 'idle') {
          void panel.refreshCalls();
        }
      });
    });
  }
};

const approvalPlugin: JupyterFrontEndPlugin<void> = {
  id: '@toolkernel/labextension:approvals',
  description:
    "Shows the tool policy's approval requests of a notebook's kernel as dialogs.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    translator: ITranslator | null
  ): void => {
    const dialogs = new ApprovalDialogs(
      (translator ?? nullTranslator).load('toolkernel')
    );
    eachNotebook(notebooks, notebook => {
      const context = notebook.sessionContext;
      const listen = (): void => void dialogs.listen(context.session?.kernel);
      context.kernelChanged.connect(listen);
      // A restarted kernel lost its comms: listen again once it is idle.
      context.statusChanged.connect((_, status) => {
        if (status === 'idle') {
          listen();
        }
      });
      void context.ready.then(listen);
    });
  }
};

/** Call `watch` on every notebook, open now or opened later. */
function eachNotebook(
  notebooks: INotebookTracker | null,
  watch: (notebook: NotebookPanel) => void
): void {
  notebooks?.forEach(watch);
  notebooks?.widgetAdded.connect((_, notebook) => watch(notebook));
}

const lockPlugin: JupyterFrontEndPlugin<void> = {
  id: '@toolkernel/labextension:lock-renderer',
  description:
    'Shows `%tools lock` outputs and keeps the lock in the notebook metadata.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    notebooks: INotebookTracker | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('toolkernel');
    // Notebooks clone the application's registry when they open: a factory added here,
    // at start-up, is in every notebook's registry. The renderer writes only text.
    rendermime.addFactory(
      {
        safe: true,
        mimeTypes: [LOCK_MIME_TYPE],
        createRenderer: options => new LockRenderer(options, notebooks, trans)
      },
      0
    );
  }
};

/** Put `code` into the active cell: its whole text when empty, else on a new line. */
function insertCall(notebooks: INotebookTracker | null, code: string): void {
  const cell = notebooks?.activeCell;
  if (!cell || !code) {
    return;
  }
  const source = cell.model.sharedModel.getSource();
  const text = source.trim() ? `${source.replace(/\n*$/, '')}\n${code}` : code;
  cell.model.sharedModel.setSource(text);
  notebooks?.currentWidget?.content.activate();
}

export default [panelPlugin, lockPlugin, approvalPlugin];
