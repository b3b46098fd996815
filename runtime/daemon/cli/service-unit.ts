/**
 * The service definitions shipped in packaging/ (a systemd user unit, a systemd system unit, a
 * launchd agent) with this machine's paths filled in, and where each one goes. Pure apart from
 * reading the template.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { packageInfo } from '../version.ts';

export type ServiceKind = 'systemd-user' | 'systemd-system' | 'launchd';

export interface ServicePlan {
  kind: ServiceKind;
  /** Where the unit or plist goes. */
  file: string;
  text: string;
  /** Commands that enable and start it, and that stop and disable it. */
  enable: string[][];
  disable: string[][];
  /** The command that says whether it runs. */
  status: string[];
}

export interface ServiceInput {
  kind: ServiceKind;
  home: string;
  /** XDG_CONFIG_HOME, when set. */
  configHome?: string | undefined;
  node: string;
  bin: string;
  dir: string;
  user: string;
}

const TEMPLATES: Record<ServiceKind, string> = {
  'systemd-user': 'systemd/pb-node.service',
  'systemd-system': 'systemd/pb-node-system.service',
  launchd: 'launchd/org.pb.pb-node.plist',
};

export const LAUNCHD_LABEL = 'org.pb.pb-node';

/** A systemd argument: quoted when it holds a space, a quote or a backslash (systemd.service(5)). */
function systemdArg(value: string): string {
  if (/[\n\r%$]/.test(value)) throw new Error(`a path with a newline, % or $ cannot go in a unit: ${value}`);
  return /[\s"'\\]/.test(value) ? `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : value;
}

const xml = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderService(template: string, input: ServiceInput): string {
  const quote = input.kind === 'launchd' ? xml : systemdArg;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(input.user)) throw new Error(`"${input.user}" is not a user name`);
  return template
    .replaceAll('@NODE@', quote(input.node))
    .replaceAll('@PB_NODE@', quote(input.bin))
    .replaceAll('@DIR@', quote(input.dir))
    .replaceAll('@USER@', input.user);
}

export function planService(input: ServiceInput): ServicePlan {
  const template = fs.readFileSync(join(packageInfo().root, 'packaging', TEMPLATES[input.kind]), 'utf8');
  const text = renderService(template, input);
  if (input.kind === 'launchd') {
    const file = join(input.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
    return {
      kind: input.kind,
      file,
      text,
      enable: [['launchctl', 'load', '-w', file]],
      disable: [['launchctl', 'unload', '-w', file]],
      status: ['launchctl', 'list', LAUNCHD_LABEL],
    };
  }
  const user = input.kind === 'systemd-user';
  const systemctl = user ? ['systemctl', '--user'] : ['systemctl'];
  const file = user
    ? join(input.configHome ?? join(input.home, '.config'), 'systemd', 'user', 'pb-node.service')
    : '/etc/systemd/system/pb-node.service';
  return {
    kind: input.kind,
    file,
    text,
    enable: [
      [...systemctl, 'daemon-reload'],
      [...systemctl, 'enable', '--now', 'pb-node.service'],
    ],
    disable: [
      [...systemctl, 'disable', '--now', 'pb-node.service'],
      [...systemctl, 'daemon-reload'],
    ],
    status: [...systemctl, 'status', '--no-pager', 'pb-node.service'],
  };
}
