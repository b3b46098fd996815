/**
 * The words of each alert mail: what happened, what it means for the operator's data, and what to
 * do (with the exact command). Pure: the transition and the member's name and data directory in,
 * a subject and a plain-text body out.
 */
import { formatDuration, formatSize } from '../units.ts';
import type { AlertDetail, AlertKind, Transition } from './rules.ts';

export interface MailContext {
  memberName: string;
  dataDir: string;
}

export interface AlertMail {
  subject: string;
  text: string;
}

const TITLES: Record<AlertKind, string> = {
  exposure: 'part of your backup is exposed',
  'no-backup': 'no successful backup',
  'pledge-nearly-full': 'your pledge is nearly full',
  'join-request': 'a join request waits for your decision',
  'empty-sources': 'backup refused: the backed-up directories are empty',
};

function when(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

/** Spans in mails read as in `pb-node status` (engine/units.ts). */
export { formatDuration };

function title(d: AlertDetail): string {
  return d.kind === 'join-request' ? `${d.name} asks to join the group` : TITLES[d.kind];
}

function openBody(t: Transition, c: MailContext): string[] {
  const dir = `--dir ${c.dataDir}`;
  const d = t.detail;
  switch (d.kind) {
    case 'exposure':
      return [
        `What happened: ${formatSize(d.exposedBytes)} of this member's backup (${formatSize(d.storedBytes)} in all) ` +
          `is held by too few members to survive ${d.tolerance} more lost at once, and has been since ${when(t.sinceMs)}.`,
        'What it means: your files can still be restored now, but if more members are lost before the repair ' +
          'finishes, part of that backup may become unrecoverable.',
        'What to do: see who is missing with `pb-node members ' +
          dir +
          '` and `pb-node status ' +
          dir +
          '`. Bring the missing member back online, or remove it for good (`pb-node remove <name> ' +
          dir +
          '`) so the repair places its shards on the others. The repair runs by itself; another mail comes when it is done.',
      ];
    case 'no-backup':
      return [
        `What happened: no backup of ${d.directories.join(', ') || 'the configured directories'} has succeeded ` +
          (d.lastSuccessMs === null
            ? `since this node started watching on ${when(d.watchSinceMs)}.`
            : `since ${when(d.lastSuccessMs)} (${formatDuration(t.atMs - d.lastSuccessMs)} ago).`),
        'What it means: changes made since then are not protected; losing this disk now loses them.',
        `What to do: run \`pb-node backup ${dir}\` to see the error, check \`pb-node status ${dir}\` and the log ` +
          `${c.dataDir}/pb-node.log. Common causes: the daemon was stopped, the other members are unreachable, ` +
          'or they have no free pledge left.',
      ];
    case 'pledge-nearly-full':
      return [
        `What happened: this machine holds ${formatSize(d.storedBytes)} of the ${formatSize(d.pledgeBytes)} it pledged ` +
          `to the group (${Math.round(d.fraction * 100)}%).`,
        'What it means: when the pledge is full, other members cannot place new shards here and their backups ' +
          'need room elsewhere; your own backup is not affected.',
        `What to do: pledge more if the disk has room (\`pb-node pledge <size> ${dir}\`, e.g. 1T), ` +
          'or ask the group to add a member or lower the agreement ratio.',
      ];
    case 'join-request':
      return [
        `What happened: ${d.name} (${d.candidate}) used an invite you issued and has asked to join the group ` +
          `since ${when(d.sinceMs)}.`,
        'What it means: nothing changes until you decide; approving lets this machine hold shards of every ' +
          "member's backup (encrypted) and back up onto the group.",
        `What to do: if you expect ${d.name}, \`pb-node approve ${d.name} ${dir}\`; if not, ` +
          `\`pb-node reject ${d.name} ${dir}\`. \`pb-node requests ${dir}\` lists all waiting requests.`,
      ];
    case 'empty-sources':
      return [
        `What happened: ${d.reason}`,
        'What it means: pb refused to save an empty snapshot, so the last good backup stays the newest one. ' +
          'This usually means a dead or unmounted disk, or files deleted by mistake.',
        `What to do: if the files are lost, restore them from the group: ${d.restoreHint} ` +
          '(it asks for your recovery secret). If the disk is only unmounted, mount it and the next backup clears this. ' +
          `If you emptied the directories on purpose: \`pb-node backup --allow-empty ${dir}\`.`,
      ];
  }
}

function clearBody(t: Transition, c: MailContext): string[] {
  const lasted = `It had been open since ${when(t.sinceMs)} (${formatDuration(t.atMs - t.sinceMs)}).`;
  const d = t.detail;
  switch (d.kind) {
    case 'exposure':
      return ["Resolved: every stripe of this member's backup again survives the group's tolerance.", lasted];
    case 'no-backup':
      return ['Resolved: a backup succeeded (or backups are no longer configured on this node).', lasted];
    case 'pledge-nearly-full':
      return ['Resolved: the pledge has room again (it was raised, or shards were freed).', lasted];
    case 'join-request':
      return [
        `Resolved: the request of ${d.name} is no longer waiting (approved, rejected, or the member was removed). ` +
          `\`pb-node members --dir ${c.dataDir}\` shows the group.`,
        lasted,
      ];
    case 'empty-sources':
      return [
        'Resolved: a backup succeeded again (the files are back, or the empty state was accepted).',
        lasted,
      ];
  }
}

export function renderAlertMail(t: Transition, c: MailContext): AlertMail {
  const head = t.type === 'open' ? title(t.detail) : `resolved: ${title(t.detail)}`;
  const paragraphs = t.type === 'open' ? openBody(t, c) : clearBody(t, c);
  const text = [
    `pb alert on member "${c.memberName}" (data directory ${c.dataDir}), ${when(t.atMs)}.`,
    '',
    ...paragraphs.flatMap((p) => [p, '']),
    t.type === 'open' ? 'You get one more mail when this clears.' : 'No action is needed.',
    '',
  ].join('\n');
  return { subject: `[pb] ${c.memberName}: ${head}`, text };
}

export function renderTestMail(c: MailContext, nowMs: number): AlertMail {
  return {
    subject: `[pb] ${c.memberName}: test mail`,
    text: [
      `This is a test from pb-node on member "${c.memberName}" (data directory ${c.dataDir}), ${when(nowMs)}.`,
      '',
      'Alert mails reach you this way: when part of the backup is exposed for longer than the grace period, ',
      'when no backup has succeeded for a while, when the pledge is nearly full, when a join request waits, ',
      'and when the backed-up directories turn up empty. Each comes once, and once more when it clears.',
      '',
    ].join('\n'),
  };
}
