import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TreeWatch } from '../../../runtime/daemon/backup/tree-watch.ts';
import { tempDir } from '../helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `count()` has grown past `from` (events arrive through the event loop). */
async function grows(count: () => number, from: number, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (count() > from) return;
    await sleep(20);
  }
  throw new Error(`no change event for ${what} within 2 s`);
}

describe('tree watch', () => {
  let watch: TreeWatch | null = null;
  afterEach(() => watch?.close());

  function start(ignore: string[] = [], maxDirectories?: number, recursive = false, rootRetryMs?: number) {
    const seen = { changes: 0, errors: [] as string[] };
    watch = new TreeWatch({
      ignore,
      onChange: () => seen.changes++,
      onError: (e) => seen.errors.push(e.message),
      recursive,
      ...(maxDirectories === undefined ? {} : { maxDirectories }),
      ...(rootRetryMs === undefined ? {} : { rootRetryMs }),
    });
    return { seen, watch };
  }

  it('reports changes anywhere in the tree, in directories made after it started too', async () => {
    const root = tempDir('pb-tree-watch-');
    fs.mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
    const { seen, watch } = start();
    await watch.add(root);
    expect(watch.size).toBe(4);

    let before = seen.changes;
    fs.writeFileSync(join(root, 'a', 'b', 'c', 'deep.txt'), 'deep');
    await grows(() => seen.changes, before, 'a file three levels down');

    // A directory tree made at once (mkdir -p): its inner directories are watched as well.
    fs.mkdirSync(join(root, 'new', 'inner'), { recursive: true });
    await grows(() => watch.size, 4, 'the new directories');
    for (let i = 0; i < 100 && watch.size < 6; i++) await sleep(20);
    expect(watch.size).toBe(6);
    before = seen.changes;
    fs.writeFileSync(join(root, 'new', 'inner', 'later.txt'), 'later');
    await grows(() => seen.changes, before, 'a file in a directory made after the start');

    // A removed directory leaves the watch; a moved one is watched where it went.
    fs.rmSync(join(root, 'new'), { recursive: true });
    for (let i = 0; i < 100 && watch.size > 4; i++) await sleep(20);
    expect(watch.size).toBe(4);
    fs.renameSync(join(root, 'a', 'b'), join(root, 'moved'));
    for (let i = 0; i < 100 && !(watch.size === 4 && fs.existsSync(join(root, 'moved'))); i++)
      await sleep(20);
    await sleep(100);
    expect(watch.size).toBe(4); // root, a, moved, moved/c
    before = seen.changes;
    fs.writeFileSync(join(root, 'moved', 'c', 'after-move.txt'), 'x');
    await grows(() => seen.changes, before, 'a file in a moved directory');
    expect(seen.errors).toEqual([]);
  });

  it('says nothing about ignored paths (the data directory) and does not follow links', async () => {
    const root = tempDir('pb-tree-watch-');
    const data = join(root, '.pb');
    fs.mkdirSync(join(data, 'index'), { recursive: true });
    const outside = tempDir('pb-tree-watch-outside-');
    fs.symlinkSync(outside, join(root, 'link'));
    const { seen, watch } = start([data]);
    await watch.add(root);
    expect(watch.size).toBe(1); // the root only: the data directory is ignored, the link not followed
    await sleep(50);
    const before = seen.changes;
    fs.writeFileSync(join(data, 'index', 'db'), 'index pages');
    fs.writeFileSync(join(data, 'log'), 'a line');
    fs.writeFileSync(join(outside, 'elsewhere.txt'), 'x');
    await sleep(300);
    expect(seen.changes).toBe(before);
    fs.writeFileSync(join(root, 'real.txt'), 'x');
    await grows(() => seen.changes, before, 'a file beside the data directory');
  });

  it('stops at its bound on directories and says where the rest is covered', async () => {
    const root = tempDir('pb-tree-watch-');
    for (let i = 0; i < 10; i++) fs.mkdirSync(join(root, `d${i}`));
    const { seen, watch } = start([], 4);
    await watch.add(root);
    expect(watch.size).toBe(4);
    expect(seen.errors).toHaveLength(1);
    expect(seen.errors[0]).toMatch(/watching stopped at more than 4 directories: .*scheduled backups/);
  });

  it('refuses a root that is missing or not a directory, naming it', async () => {
    const root = tempDir('pb-tree-watch-');
    const { watch } = start();
    await expect(watch.add(join(root, 'missing'))).rejects.toThrow(/missing/);
    fs.writeFileSync(join(root, 'file'), 'x');
    await expect(watch.add(join(root, 'file'))).rejects.toThrow(/file is not a directory/);
  });

  it('where the platform watches whole trees (macOS, Windows; forced here): one watch per root', async () => {
    const root = tempDir('pb-tree-watch-');
    const data = join(root, '.pb');
    fs.mkdirSync(join(root, 'a', 'b'), { recursive: true });
    fs.mkdirSync(data);
    const { seen, watch } = start([data], undefined, true);
    await watch.add(root);
    expect(watch.size).toBe(1);
    await sleep(300); // Node's own tree walk behind the recursive watch
    fs.writeFileSync(join(data, 'index'), 'ignored');
    await sleep(300);
    expect(seen.changes).toBe(0);
    fs.writeFileSync(join(root, 'a', 'b', 'deep.txt'), 'deep');
    await grows(() => seen.changes, 0, 'a file two levels down');
    expect(seen.errors).toEqual([]);
  });

  it('watches a root again once it is removed and made again (a restore in place)', async () => {
    const parent = tempDir('pb-tree-watch-');
    const root = join(parent, 'Documents');
    fs.mkdirSync(join(root, 'a'), { recursive: true });
    const { seen, watch } = start([], undefined, false, 50);
    await watch.add(root);
    expect(watch.size).toBe(2);
    fs.rmSync(root, { recursive: true });
    for (let i = 0; i < 100 && watch.size > 0; i++) await sleep(20);
    expect(watch.size).toBe(0);
    // Made again, with a tree in it: the new directories are watched and their changes seen.
    fs.mkdirSync(join(root, 'b', 'c'), { recursive: true });
    for (let i = 0; i < 100 && watch.size < 3; i++) await sleep(20);
    expect(watch.size).toBe(3);
    const before = seen.changes;
    fs.writeFileSync(join(root, 'b', 'c', 'back.txt'), 'back');
    await grows(() => seen.changes, before, 'a file in the root made again');
    // Replaced at once (a rename over it): the watch follows the new directory, not the old one.
    const other = join(parent, 'other');
    fs.mkdirSync(other);
    fs.rmSync(root, { recursive: true });
    fs.renameSync(other, root);
    for (let i = 0; i < 100 && watch.size !== 1; i++) await sleep(20);
    await sleep(100);
    expect(watch.size).toBe(1);
    const later = seen.changes;
    fs.writeFileSync(join(root, 'renamed-in.txt'), 'x');
    await grows(() => seen.changes, later, 'a file in the directory renamed over the root');
    expect(seen.errors).toEqual([]);
  });

  it('watches a root missing at the start once it appears, and counts that as a change', async () => {
    const parent = tempDir('pb-tree-watch-');
    const root = join(parent, 'not-yet');
    const { seen, watch } = start([], undefined, false, 50);
    await expect(watch.add(root)).rejects.toThrow(/not-yet/);
    await sleep(120);
    expect(watch.size).toBe(0);
    fs.mkdirSync(join(root, 'inner'), { recursive: true });
    await grows(() => seen.changes, 0, 'the root appearing');
    for (let i = 0; i < 100 && watch.size < 2; i++) await sleep(20);
    expect(watch.size).toBe(2);
    const before = seen.changes;
    fs.writeFileSync(join(root, 'inner', 'first.txt'), 'x');
    await grows(() => seen.changes, before, 'a file in a root that appeared later');
    expect(seen.errors).toEqual([]);
  });

  it('where the platform watches whole trees: a root made again is watched again', async () => {
    const parent = tempDir('pb-tree-watch-');
    const root = join(parent, 'tree');
    fs.mkdirSync(root);
    const { seen, watch } = start([], undefined, true, 50);
    await watch.add(root);
    await sleep(300);
    fs.rmSync(root, { recursive: true });
    await sleep(200);
    fs.mkdirSync(root);
    await sleep(300); // the retry, then Node's own tree walk behind the recursive watch
    const before = seen.changes;
    fs.writeFileSync(join(root, 'again.txt'), 'x');
    await grows(() => seen.changes, before, 'a file in the whole-tree root made again');
    expect(watch.size).toBe(1);
  });

  it('reports nothing once closed', async () => {
    const root = tempDir('pb-tree-watch-');
    const { seen, watch } = start();
    await watch.add(root);
    watch.close();
    fs.writeFileSync(join(root, 'after-close.txt'), 'x');
    await sleep(200);
    expect(seen.changes).toBe(0);
    expect(watch.size).toBe(0);
  });
});
