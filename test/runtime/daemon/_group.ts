/**
 * A formed group of real pb-node processes for the recovery tests: `formGroup` starts the named
 * members, founds the group on the first and lets the others join (approved), and waits until
 * every member sees every pledge. Plus the tree helpers the restores are compared with.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { decodeShardHeader } from '../../../runtime/pipeline/shard-format.ts';
import { cli, initNode, type Proc, type Wrap, waitFor } from './_cluster.ts';

export interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs: number;
  size: number;
  sha256: string | null;
  link: string | null;
}

/** Every entry under `root` (root included), by relative path, lstat-based. */
export function manifest(root: string): Entry[] {
  const out: Entry[] = [];
  const walk = (abs: string): void => {
    const st = fs.lstatSync(abs);
    const path = relative(root, abs) || '.';
    const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'file';
    out.push({
      path,
      type,
      mode: type === 'symlink' ? 0 : st.mode & 0o7777,
      mtimeMs: Math.round(st.mtimeMs),
      size: type === 'dir' ? 0 : st.size,
      sha256: type === 'file' ? createHash('sha256').update(fs.readFileSync(abs)).digest('hex') : null,
      link: type === 'symlink' ? fs.readlinkSync(abs) : null,
    });
    if (type === 'dir') for (const name of fs.readdirSync(abs).sort()) walk(join(abs, name));
  };
  walk(root);
  return out;
}

/** Fixed, distinct times on every entry under `root` (deepest first so directory times stay). */
export function fixTimes(root: string, baseSeconds = Date.UTC(2024, 2, 1, 12) / 1000): void {
  manifest(root)
    .reverse()
    .forEach((e, i) => {
      const t = baseSeconds + i * 61.25;
      const abs = join(root, e.path);
      if (e.type === 'symlink') fs.lutimesSync(abs, t, t);
      else fs.utimesSync(abs, t, t);
    });
}

export interface Group {
  procs: Proc[];
  ids: Map<Proc, string>;
}

export async function formGroup(
  root: string,
  names: string[],
  extra: Record<string, string[]> = {},
  pledge = '64MiB',
  /**
   * `wrap`: each member's command prefix (a network namespace in test/nat); `beforeStart`: a
   * change to a member's new data directory before its daemon starts; `afterCreate`: what must
   * run once the group exists, before anyone joins (a relay that serves this group only).
   */
  options: {
    wrap?: (name: string) => Wrap;
    beforeStart?: (p: Proc, name: string) => void;
    afterCreate?: (founder: Proc) => Promise<void>;
  } = {},
): Promise<Group> {
  const wrap = options.wrap ?? (() => []);
  const procs = await Promise.all(
    names.map((n) =>
      initNode(
        root,
        n,
        ['--pledge', pledge, ...(extra[n] ?? ['--schedule', 'off', '--watch-debounce', '0s'])],
        wrap(n),
      ),
    ),
  );
  names.forEach((n, i) => {
    options.beforeStart?.(procs[i]!, n);
  });
  // One at a time: five daemons starting at once on a loaded machine miss the start deadline.
  for (const p of procs) await p.start();
  const ids = new Map<Proc, string>();
  for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
  const [founder, ...others] = procs as [Proc, ...Proc[]];
  const created = await cli(['create', '--dir', founder.dir, '--ratio', '1.5', '--tolerance', '1']);
  if (created.code !== 0) throw new Error(`create failed: ${created.stderr}`);
  await options.afterCreate?.(founder);
  for (const candidate of others) {
    const code = (await cli(['invite', '--dir', founder.dir])).stdout.trim();
    const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
    const name = candidate.dir.split('/').at(-1)!;
    await waitFor(
      `${name}'s request`,
      async () => ((await founder.call('requests')) as { name: string }[]).some((r) => r.name === name),
      60_000,
    );
    const approved = await cli(['approve', name, '--dir', founder.dir]);
    if (approved.code !== 0) throw new Error(`approve ${name} failed: ${approved.stderr}`);
    const joined = await joining;
    if (!/"approved"/.test(joined.stdout)) throw new Error(`join ${name}: ${joined.stdout} ${joined.stderr}`);
  }
  for (const p of procs)
    await waitFor(
      `${names.length} members with their pledges`,
      async () =>
        ((await p.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
        names.length,
      60_000,
    );
  return { procs, ids };
}

/** A member's direct TCP address (not a relayed one), as `pb-node restore --peer` takes it. */
export async function directAddress(member: Proc): Promise<string> {
  const status = (await member.call('status')) as { addresses: string[] };
  const address = status.addresses.find((a) => a.includes('/tcp/') && !a.includes('p2p-circuit'));
  if (address === undefined) throw new Error(`no direct TCP address among ${status.addresses.join(', ')}`);
  return address;
}

/** The holder's store counters (status.store). */
export async function storeReport(
  p: Proc,
): Promise<{ storedBytes: number; putsReceived: number; putsAlreadyHeld: number }> {
  return (
    (await p.call('status')) as {
      store: { storedBytes: number; putsReceived: number; putsAlreadyHeld: number };
    }
  ).store;
}

/** Shard ids a member holds on disk (files named by their 64-hex id under shards/). */
export function shardFiles(p: Proc): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/^[0-9a-f]{64}$/.test(e.name)) out.push(e.name);
    }
  };
  walk(join(p.dir, 'shards'));
  return out.sort();
}

/** One shard file on a holder's disk, as its header describes it. */
export interface DiskShard {
  member: string;
  stripeId: string;
  owner: string;
  k: number;
  m: number;
  index: number;
  bodyBytes: number;
  fileBytes: number;
}

/** The shards a member holds for others, read from its disk (independently of the daemon). */
export function shardsOnDisk(dir: string, member: string): DiskShard[] {
  const root = join(dir, 'shards', 'store', 'shards');
  if (!fs.existsSync(root)) return [];
  const out: DiskShard[] = [];
  for (const fan of fs.readdirSync(root))
    for (const name of fs.readdirSync(join(root, fan))) {
      const bytes = fs.readFileSync(join(root, fan, name));
      const hash = createHash('sha256').update(bytes).digest('hex');
      if (hash !== name) throw new Error(`${join(root, fan, name)} does not hash to its name (${hash})`);
      const { header } = decodeShardHeader(bytes);
      out.push({ member, ...header, fileBytes: bytes.length });
    }
  return out;
}
