/**
 * Hostile input, on-disk records: every decoder of a record pb reads from disk gets generated and
 * mutated bytes (valid encodings flipped, cut, spliced; random bytes). The only outcomes allowed
 * are the decoded value (a mutation may leave a record valid) or the decoder's typed error; a
 * TypeError, RangeError or any other untyped throw is a crash and fails the property. Readers of
 * files must leave the file as it was (no state change). CI: FUZZ_RUNS (5k) per decoder;
 * `pnpm test:faults --long`: 100k.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeHead as decodeSignedHead,
  deriveMemberKeys,
  EngineError,
  signHead,
} from '../../engine/index.ts';
import { nodeEd25519Verifier } from '../../runtime/crypto/ed25519.ts';
import {
  ConfigError,
  DEFAULT_CONFIG,
  parseConfig,
  readSecret,
  renderConfig,
} from '../../runtime/daemon/config/config.ts';
import { ControlError } from '../../runtime/daemon/control/control.ts';
import {
  decodeInviteCode,
  encodeInviteCode,
  InviteCodeError,
} from '../../runtime/daemon/group/invite-code.ts';
import { OpFile } from '../../runtime/daemon/group/op-file.ts';
import { parseSecretText } from '../../runtime/daemon/recovery/recovery.ts';
import { HeadStore } from '../../runtime/daemon/shards/head-store.ts';
import { CODEC_ZSTD, compressObject, decompressObject } from '../../runtime/pipeline/codec.ts';
import { PipelineError } from '../../runtime/pipeline/errors.ts';
import { IndexDb } from '../../runtime/pipeline/index-db.ts';
import {
  loadConfig as loadLocalConfig,
  readSecret as readLocalSecret,
} from '../../runtime/pipeline/repository.ts';
import { buildShards, decodeShard } from '../../runtime/pipeline/shard-format.ts';
import { decodeHead, encodeHead } from '../../runtime/pipeline/snapshot.ts';
import { directoryBytes, readDirectory, writeDirectory } from '../../runtime/pipeline/stripe-layout.ts';
import {
  decodeSnapshot,
  decodeTree,
  ENTRY_DIR,
  ENTRY_FILE,
  ENTRY_SYMLINK,
  encodeSnapshot,
  encodeTree,
  type TreeEntry,
} from '../../runtime/pipeline/tree.ts';
import { PledgedShardStore, RESERVATION_FILE } from '../../runtime/store/pledged-shard-store.ts';
import { tempDir } from '../runtime/helpers.ts';
import { FUZZ_RUNS, LONG, scaledTimeoutMs } from './_counts.ts';
import { hostileBytes } from './_mutate.ts';

const keys = deriveMemberKeys(Buffer.alloc(32, 0x11));
const ID7 = Buffer.alloc(32, 7);
const root = tempDir('faults-records');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Counts what each property saw, for the closing line of the suite. */
const tally = new Map<string, { runs: number; rejected: number; accepted: number }>();

/**
 * Runs `decode` on `input`: it must return or throw one of `errors`; anything else fails with
 * the input in hex (fast-check adds the seed and the shrunk counterexample).
 */
function outcome(
  name: string,
  errors: readonly (abstract new (...a: never[]) => Error)[],
  run: () => unknown,
): void {
  const t = tally.get(name) ?? { runs: 0, rejected: 0, accepted: 0 };
  tally.set(name, t);
  t.runs++;
  try {
    run();
    t.accepted++;
  } catch (e) {
    if (!errors.some((cls) => e instanceof cls)) {
      throw new Error(`${name}: untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, {
        cause: e,
      });
    }
    expect((e as Error).message.length).toBeGreaterThan(0);
    t.rejected++;
  }
}

const opts = { numRuns: FUZZ_RUNS };
const TIMEOUT = scaledTimeoutMs(120_000, 1_800_000);

function treeEntries(): TreeEntry[] {
  return [
    {
      type: ENTRY_DIR,
      name: Buffer.from('d'),
      mode: 0o40755,
      uid: 1000,
      gid: 1000,
      mtimeSec: 1700000000,
      mtimeNsec: 5,
      tree: [ID7],
    },
    {
      type: ENTRY_FILE,
      name: Buffer.from('secret-plan.txt'),
      mode: 0o100644,
      uid: 1000,
      gid: 1000,
      mtimeSec: 1700000000,
      mtimeNsec: 6,
      size: 3,
      chunks: [ID7, ID7],
      flags: 0,
    },
    {
      type: ENTRY_SYMLINK,
      name: Buffer.from([0xff, 0x0a]),
      mode: 0o120777,
      uid: 0,
      gid: 0,
      mtimeSec: 1,
      mtimeNsec: 0,
      target: Buffer.from('../x'),
    },
  ];
}

describe('hostile on-disk records: typed errors only, no crash', () => {
  it(
    'shard files (format v2): decodeShard',
    () => {
      const corpus = [
        ...buildShards(
          'owner/1/0',
          'owner',
          2,
          2,
          [0, 1, 2, 3].map((i) => Buffer.alloc(16, i)),
        ).map((s) => s.bytes),
        ...buildShards('o'.repeat(40), 'x', 1, 1, [Buffer.alloc(64, 9), Buffer.alloc(64, 3)]).map(
          (s) => s.bytes,
        ),
      ];
      fc.assert(
        fc.property(hostileBytes(corpus), (b) => outcome('shard v2', [PipelineError], () => decodeShard(b))),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'trees and snapshots: decodeTree, decodeSnapshot',
    () => {
      const snap = encodeSnapshot({
        timeMs: 1700000000000,
        host: 'h',
        roots: [
          {
            path: Buffer.from('/home/a'),
            dir: { ...(treeEntries()[0] as Extract<TreeEntry, { type: 0 }>), name: Buffer.from('a') },
          },
        ],
        files: 1,
        bytes: 2,
        warnings: ['w'],
      });
      const corpus = [encodeTree(treeEntries()), encodeTree([]), snap];
      fc.assert(
        fc.property(hostileBytes(corpus), (b) => {
          outcome('tree', [PipelineError], () => decodeTree(b));
          outcome('snapshot', [PipelineError], () => decodeSnapshot(b));
        }),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'the data directory head: decodeHead (signed, sealed)',
    () => {
      const corpus = [
        encodeHead(
          { owner: 'o', headSeq: 1, snapshotId: ID7, timeMs: 1700000000000 },
          keys,
          Buffer.alloc(24, 0x24),
        ),
        encodeHead({ owner: 'a'.repeat(64), headSeq: 99, snapshotId: ID7, timeMs: 1 }, keys),
      ];
      fc.assert(
        fc.property(hostileBytes(corpus), (b) =>
          outcome('data head', [PipelineError], () => decodeHead(b, keys)),
        ),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'stripe directories: readDirectory',
    () => {
      const entries = [
        { id: ID7, kind: 0, offset: 0, sealedBytes: 100, plainBytes: 60, codec: 0 as const },
        { id: Buffer.alloc(32, 9), kind: 1, offset: 100, sealedBytes: 50, plainBytes: 10, codec: 1 as const },
      ];
      const area = Buffer.alloc(150 + directoryBytes(2) + 16);
      writeDirectory(area, 'x/1/0', keys.dataKey, entries);
      fc.assert(
        fc.property(hostileBytes([area], 64), (b) =>
          outcome('stripe directory', [PipelineError], () => readDirectory(b, 'x/1/0', keys.dataKey)),
        ),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'compressed object payloads: decompressObject (bounded output)',
    () => {
      const frame = (b: Uint8Array): Buffer => {
        const out = compressObject(b);
        expect(out.codec).toBe(CODEC_ZSTD);
        return Buffer.from(out.payload);
      };
      let text = '';
      for (let i = 0; text.length < 20_000; i++) text += `entry ${i}: ${i % 11} ${'ab'.repeat(i % 7)}\n`;
      const corpus = [
        frame(Buffer.from(text)),
        frame(Buffer.alloc(200_000)),
        frame(Buffer.from('x'.repeat(300))),
        frame(Buffer.concat([Buffer.from(text), createHash('sha256').update('r').digest()])),
      ];
      const limitBytes = 256 * 1024;
      fc.assert(
        fc.property(hostileBytes(corpus, 256), (b) =>
          outcome('zstd payload', [PipelineError], () => {
            const plain = decompressObject(CODEC_ZSTD, b, limitBytes);
            expect(plain.length).toBeLessThanOrEqual(limitBytes);
          }),
        ),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'heads kept for other members: engine decodeHead and the head store directory',
    () => {
      const verify = nodeEd25519Verifier();
      const corpus = [
        signHead(keys, 7, Buffer.from('body')).bytes,
        signHead(keys, 0, new Uint8Array(0)).bytes,
      ];
      fc.assert(
        fc.property(hostileBytes(corpus), (b) =>
          outcome('signed head', [EngineError], () => decodeSignedHead(b, verify)),
        ),
        opts,
      );
      // A directory of damaged head files: each is ignored with a warning, the good one is kept.
      const dir = join(root, 'heads');
      fs.mkdirSync(dir);
      const good = signHead(keys, 3, Buffer.from('b'));
      fs.writeFileSync(join(dir, `${good.owner}.head`), good.bytes);
      const samples = fc.sample(hostileBytes(corpus), 50);
      for (const [i, b] of samples.entries())
        fs.writeFileSync(join(dir, `${'f'.repeat(63)}${i % 10}-${i}.head`), b);
      const warnings: string[] = [];
      const store = new HeadStore(
        dir,
        () => true,
        (t) => warnings.push(t),
      );
      expect(store.get(good.owner)?.seq).toBe(3);
      expect(warnings.length).toBe(samples.length);
    },
    TIMEOUT,
  );

  it(
    'invite codes: decodeInviteCode (text and bytes)',
    () => {
      const now = 1_800_000_000_000;
      const valid = encodeInviteCode({
        inviter: '12D3KooWJ5r1K6z1nAr5ycBnC1NLyWkvsmkPjwiGWrHFBm8ykmHc',
        addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/4001/p2p/x/p2p-circuit'],
        token: new Uint8Array(32).fill(5),
        expiresAtMs: now + 3600_000,
      });
      const corpus = [Buffer.from(valid), Buffer.from(valid.slice(3), 'base64url')];
      fc.assert(
        fc.property(
          fc.oneof(
            hostileBytes(corpus).map((b) => b.toString('latin1')),
            hostileBytes(corpus).map((b) => `pb1${b.toString('base64url')}`),
            fc.string({ maxLength: 200 }),
          ),
          (text) => outcome('invite code', [InviteCodeError], () => decodeInviteCode(text, now)),
        ),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'the daemon config file: parseConfig',
    () => {
      const text = renderConfig({
        ...DEFAULT_CONFIG,
        name: 'alice',
        directories: ['/home/alice'],
        pledgeBytes: 5e9,
      });
      fc.assert(
        fc.property(hostileBytes([Buffer.from(text)], 256), (b) =>
          outcome('daemon config', [ConfigError], () => parseConfig(b.toString('utf8'), 'config')),
        ),
        opts,
      );
      // Keys that name Object.prototype members are unknown settings, never prototype writes.
      for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty'])
        expect(() => parseConfig(`${text}\n${key} = {"name": 1}\n`, 'config')).toThrow(ConfigError);
    },
    TIMEOUT,
  );

  it(
    'secret files and typed secrets: readSecret (daemon, local), parseSecretText',
    () => {
      const dir = join(root, 'secret-dir');
      fs.mkdirSync(dir);
      const file = join(dir, 'secret');
      const corpus = [Buffer.from(`${'ab'.repeat(32)}\n`), Buffer.from(`${'AB'.repeat(32)}`)];
      fc.assert(
        fc.property(hostileBytes(corpus, 80), (b) => {
          fs.writeFileSync(file, b, { mode: 0o600 });
          outcome('daemon secret', [ConfigError], () => readSecret(dir));
          outcome('local secret', [PipelineError], () => readLocalSecret(file));
          outcome('typed secret', [ControlError], () => parseSecretText(b.toString('utf8')));
          expect(fs.readFileSync(file).equals(b)).toBe(true);
        }),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'the local-mode config file: loadConfig',
    () => {
      const file = join(root, 'pb.json');
      const valid = Buffer.from(
        JSON.stringify({
          dataDir: 'data',
          secretFile: 'secret',
          agreement: { ratio: 2, tolerance: 1 },
          members: [1, 2, 3].map((i) => ({ id: `m${i}`, dir: `members/m${i}`, pledgeBytes: 1e9 })),
          sources: ['/tmp/x'],
          workers: 1,
        }),
      );
      fc.assert(
        fc.property(hostileBytes([valid], 128), (b) => {
          fs.writeFileSync(file, b);
          outcome('local config', [PipelineError], () => loadLocalConfig(file));
        }),
        opts,
      );
    },
    TIMEOUT,
  );

  it(
    'op files: OpFile.open cuts only a torn tail, refuses any other damage loudly',
    () => {
      const dir = join(root, 'group');
      const record = (op: Uint8Array) => {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(op.length);
        return Buffer.concat([len, op]);
      };
      const ops = [signHead(keys, 1, Buffer.from('a')).bytes, signHead(keys, 2, Buffer.alloc(300, 1)).bytes];
      const corpus = [Buffer.concat(ops.map(record)), record(ops[0]!)];
      const groupId = `${'c'.repeat(64)}\n`;
      fc.assert(
        fc.property(hostileBytes(corpus), fc.boolean(), (b, badId) => {
          fs.rmSync(dir, { recursive: true, force: true });
          fs.mkdirSync(dir);
          fs.writeFileSync(join(dir, 'ops.bin'), b);
          fs.writeFileSync(join(dir, 'group-id'), badId ? b.subarray(0, 64) : groupId);
          let loaded: Uint8Array[] | null = null;
          outcome('op file', [Error], () => {
            try {
              const r = OpFile.open(dir);
              r.file.close();
              loaded = r.ops;
            } catch (e) {
              // The op file's refusals are plain Errors naming the file: require that, not a TypeError.
              if ((e as Error).constructor !== Error || !(e as Error).message.includes(dir))
                throw new TypeError(String(e));
              throw e;
            }
          });
          if (loaded !== null) {
            // Loaded: what remains on disk is exactly the records read (a torn tail cut), and it reopens the same.
            const again = OpFile.open(dir);
            again.file.close();
            expect(again.ops.length).toBe((loaded as Uint8Array[]).length);
            expect(again.warnings).toEqual([]);
          } else {
            // Refused: ops.bin is as it was, or cut at a record boundary (a torn tail is cut before
            // the group id is checked); never rewritten.
            const after = fs.readFileSync(join(dir, 'ops.bin'));
            expect(b.subarray(0, after.length).equals(after)).toBe(true);
          }
        }),
        { numRuns: Math.max(300, Math.round(FUZZ_RUNS / 2)) }, // a directory rewritten per input
      );
    },
    TIMEOUT,
  );

  it(
    'index files: a damaged index.sqlite opens or is refused with a typed error',
    () => {
      const dir = join(root, 'index');
      fs.mkdirSync(dir);
      const path = join(dir, 'index.sqlite');
      const db = new IndexDb(path);
      db.db.pragma('journal_mode = DELETE');
      db.db.close();
      const valid = fs.readFileSync(path);
      // The SQLite header and first pages hold the schema: mutate there (and anywhere, less often).
      const runs = Math.max(100, Math.round(FUZZ_RUNS / 25));
      fc.assert(
        fc.property(hostileBytes([valid.subarray(0, 4096), valid]), (b) => {
          for (const f of fs.readdirSync(dir)) fs.rmSync(join(dir, f));
          fs.writeFileSync(path, b);
          outcome('index.sqlite', [PipelineError], () => {
            const opened = new IndexDb(path);
            opened.db.close();
          });
        }),
        { numRuns: runs },
      );
    },
    TIMEOUT,
  );

  it(
    'the pledge reservation: a damaged reservation file is re-made to pledge - stored, shards intact',
    async () => {
      const dir = join(root, 'pledged');
      const pledge = 4 * 1024 * 1024;
      const first = await PledgedShardStore.open(dir, {
        pledgeBytes: pledge,
        durable: false,
        onWarning: () => undefined,
      });
      const bodies = [Buffer.alloc(1000, 1), Buffer.alloc(5000, 2), Buffer.alloc(70_000, 3)];
      const ids = bodies.map((b) => createHash('sha256').update(b).digest('hex'));
      for (const [i, b] of bodies.entries()) await first.put(ids[i]!, b);
      const stored = bodies.reduce((n, b) => n + b.length, 0);
      const rounds = LONG ? 500 : 40; // each open runs fallocate
      const sizes = fc.sample(fc.nat(2 * pledge), { numRuns: rounds, seed: 9 });
      for (const size of sizes) {
        fs.writeFileSync(join(dir, RESERVATION_FILE), Buffer.alloc(size, 0xa5));
        const store = await PledgedShardStore.open(dir, {
          pledgeBytes: pledge,
          durable: false,
          onWarning: () => undefined,
        });
        const r = await store.report();
        expect(r.storedBytes).toBe(stored);
        expect(r.reservationBytes).toBe(pledge - stored);
        expect(fs.statSync(join(dir, RESERVATION_FILE)).size).toBe(pledge - stored);
        for (const [i, b] of bodies.entries())
          expect(Buffer.from(await store.get(ids[i]!)).equals(b)).toBe(true);
      }
      tally.set('reservation', { runs: rounds, rejected: 0, accepted: rounds });
    },
    TIMEOUT,
  );

  afterAll(() => {
    const lines = [...tally].map(
      ([k, v]) => `${k}: ${v.runs} inputs, ${v.rejected} refused (typed), ${v.accepted} decoded`,
    );
    console.log(`hostile records (FUZZ_RUNS=${FUZZ_RUNS}):\n  ${lines.join('\n  ')}`);
  });
});
