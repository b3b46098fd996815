/**
 * The test vectors of docs/group-log.md, computed from their definitions. The vectors test checks
 * that the document's values equal these; `npx tsx test/engine/group/vectors.ts` prints the block.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import {
  deriveMemberKeys,
  foldGroup,
  type GroupOp,
  Iblt,
  inviteTokenHash,
  memberIdFromPublicKey,
  nextHeader,
  rangeFingerprint,
  signOp,
  strataBytes,
  syncIndex,
  toHex,
} from '../../../engine/index.ts';

export function computeVectors(): Map<string, string> {
  const v = new Map<string, string>();
  const secretA = new Uint8Array(32).fill(1);
  const secretB = new Uint8Array(32).fill(2);
  const a = deriveMemberKeys(secretA);
  const b = deriveMemberKeys(secretB);
  v.set('secret_a', toHex(secretA));
  v.set('a.identity_seed', toHex(a.signingSeed));
  v.set('a.public_key', toHex(a.publicKey));
  v.set('a.data_key', toHex(a.dataKey));
  v.set('a.chunk_id_key', toHex(a.chunkIdKey));
  v.set('a.member_id', memberIdFromPublicKey(a.publicKey));
  v.set('secret_b', toHex(secretB));
  v.set('b.public_key', toHex(b.publicKey));
  v.set('b.member_id', memberIdFromPublicKey(b.publicKey));
  const token = `${'00'.repeat(31)}2a`;
  v.set('token', token);
  v.set('token_hash', inviteTokenHash(token));
  const t0 = 1_700_000_000_000;
  const ops: GroupOp[] = [];
  const on = (keys: typeof a, body: Parameters<typeof signOp>[2], atMs: number) => {
    const op = signOp(keys, nextHeader(foldGroup(ops, atMs), atMs), body);
    ops.push(op);
    return op;
  };
  const create = signOp(
    a,
    { group: null, clock: 0, atMs: t0, parents: [] },
    {
      kind: 'create',
      agreement: { ratio: 2, tolerance: 1 },
      name: 'alice',
      addresses: ['/ip4/192.0.2.1/tcp/4001'],
    },
  );
  ops.push(create);
  const invite = on(
    a,
    { kind: 'invite', tokenHash: inviteTokenHash(token), expiresAtMs: t0 + 86_400_000 },
    t0 + 1000,
  );
  const request = on(b, { kind: 'request', name: 'bob', addresses: [], token }, t0 + 2000);
  const approve = on(
    a,
    { kind: 'approve', candidate: memberIdFromPublicKey(b.publicKey), request: request.hash },
    t0 + 3000,
  );
  const pledge = on(b, { kind: 'pledge', pledgeBytes: 500_000_000_000 }, t0 + 4000);
  for (const [name, op] of Object.entries({ create, invite, request, approve, pledge })) {
    v.set(`op.${name}.bytes`, toHex(op.bytes));
    v.set(`op.${name}.hash`, op.hash);
  }
  const state = foldGroup(ops, t0 + 5000);
  v.set('state.digest', state.digest);
  v.set('state.heads', state.heads.join(','));
  const index = syncIndex(ops.map((o) => o.hash));
  v.set('sync.fingerprint_all', rangeFingerprint(index, 0, index.hashes.length));
  const iblt = new Iblt(6);
  for (let i = 0; i < index.keysHi.length; i++) iblt.add(index.keysHi[i]!, index.keysLo[i]!, 1);
  v.set('sync.iblt_6_cells', toHex(iblt.toBytes()));
  v.set('sync.strata_sha256', toHex(sha256(strataBytes(index.keysHi, index.keysLo))));
  return v;
}

/** Reads `name = value` lines of the ```vectors block of a markdown text. */
export function parseVectors(markdown: string): Map<string, string> {
  const block = /```vectors\n([\s\S]*?)```/.exec(markdown);
  if (block === null) throw new Error('no ```vectors block');
  const out = new Map<string, string>();
  let last = '';
  for (const line of block[1]!.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([a-z0-9_.]+) = (.*)$/.exec(line);
    if (m !== null) {
      last = m[1]!;
      out.set(last, m[2]!.trim());
    } else {
      // continuation lines of long hex values are indented
      out.set(last, out.get(last)! + line.trim());
    }
  }
  return out;
}

/** The block as written in the document (hex wrapped at 96 characters). */
export function formatVectors(v: Map<string, string>): string {
  const lines: string[] = [];
  for (const [name, value] of v) {
    const wrapped = value.length > 96 && !value.includes(',') ? value.match(/.{1,96}/g)! : [value];
    lines.push(`${name} = ${wrapped[0]}`);
    for (const more of wrapped.slice(1)) lines.push(`    ${more}`);
  }
  return ['```vectors', ...lines, '```'].join('\n');
}

if (process.argv[1]?.endsWith('vectors.ts')) console.log(formatVectors(computeVectors()));
