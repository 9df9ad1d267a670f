/**
 * @toolkernel/labextension: the "Tools" side panel of JupyterLab, backed by the
 * toolkernel server extension's REST API.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { ToolsPanel } from './panel';
import toolsSvg from '../style/tools.svg';

/** The panel's icon: a wrench. */
export const toolsIcon = new LabIcon({ name: 'toolkernel:tools', svgstr: toolsSvg });

namespace CommandIDs {
  export const open = 'toolkernel:open-tools';
  export const insertCall = 'toolkernel:insert-call';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@toolkernel/labextension:plugin',
  description: 'A side panel that lists, searches and versions the tools of toolkernel.',
  autoStart: true,
  requires: [ILabShell],
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): void => {
    const panel = new ToolsPanel();
    panel.title.icon = toolsIcon;
    labShell.add(panel, 'left', { rank: 450 });
    restorer?.add(panel, 'toolkernel-tools');

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show Tools',
      caption: 'Open the toolkernel Tools panel',
      execute: () => labShell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.insertCall, {
      label: 'Insert Tool Call',
      caption: 'Put a ready-to-run call into the active notebook cell',
      isEnabled: () => notebooks?.activeCell !== null && notebooks?.activeCell !== undefined,
      execute: args => insertCall(notebooks, String(args['code'] ?? ''))
    });
    palette?.addItem({ command: CommandIDs.open, category: 'Toolkernel' });
    panel.details.insert.connect((_, code) => {
      void app.commands.execute(CommandIDs.insertCall, { code });
    });
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

export default plugin;
