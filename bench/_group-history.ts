/**
 * A realistic signed group history for the benchmark: a founder admits members (invite, request,
 * approve, pledge), then members pledge, invite, change the agreement, join and get removed, with
 * some ops made concurrently (same parents). Signed with node:crypto (same bytes as @noble).
 */
import seedrandom from 'seedrandom';
import {
  deriveMemberKeys,
  type GroupOp,
  inviteTokenHash,
  type MemberKeys,
  memberIdFromPublicKey,
  type OpBody,
  signOp,
  toHex,
} from '../engine/index.ts';
import { nodeEd25519Signer } from '../runtime/crypto/ed25519.ts';

const T0 = 1_700_000_000_000;
const DAY_MS = 86_400_000;

export function buildHistory(totalOps: number, seed = 'pb-group-bench'): GroupOp[] {
  const random = seedrandom(seed);
  const sign = nodeEd25519Signer();
  const keys = new Map<number, MemberKeys>();
  const keyOf = (n: number): MemberKeys => {
    let k = keys.get(n);
    if (k === undefined) {
      const secret = new Uint8Array(32);
      new DataView(secret.buffer).setUint32(0, n);
      k = deriveMemberKeys(secret);
      keys.set(n, k);
    }
    return k;
  };
  const idOf = (n: number) => memberIdFromPublicKey(keyOf(n).publicKey);
  const ops: GroupOp[] = [];
  let heads: string[] = [];
  let clock = 0;
  let atMs = T0;
  let group: string | null = null;
  let tokens = 0;
  const emit = (author: number, body: OpBody): GroupOp => {
    atMs += 1000;
    const header = {
      group,
      clock: group === null ? 0 : clock + 1,
      atMs,
      parents: group === null ? [] : heads,
    };
    const op = signOp(keyOf(author), header, body, { sign });
    ops.push(op);
    clock = header.clock;
    heads = [op.hash];
    return op;
  };
  /** Two members act without seeing each other's op: same parents, same clock. */
  const emitConcurrent = (a: [number, OpBody], b: [number, OpBody]): void => {
    atMs += 1000;
    const header = { group, clock: clock + 1, atMs, parents: heads };
    const x = signOp(keyOf(a[0]), header, a[1], { sign });
    const y = signOp(keyOf(b[0]), header, b[1], { sign });
    ops.push(x, y);
    clock = header.clock;
    heads = [x.hash, y.hash].sort();
  };
  const create = emit(1, {
    kind: 'create',
    agreement: { ratio: 2, tolerance: 1 },
    name: 'founder',
    addresses: ['/ip4/192.0.2.1/tcp/4001'],
  });
  group = create.hash;
  const members: number[] = [1];
  let nextIdentity = 2;
  const pick = () => members[Math.floor(random() * members.length)]!;
  const pledge = () => Math.floor(random() * 2000) * 1e9;
  const admit = (inviter: number) => {
    const n = nextIdentity++;
    const token = toHex(
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? tokens++ & 0xff : i === 1 ? tokens >> 8 : 7)),
    );
    emit(inviter, { kind: 'invite', tokenHash: inviteTokenHash(token), expiresAtMs: atMs + DAY_MS });
    const request = emit(n, {
      kind: 'request',
      name: `member-${n}`,
      addresses: [`/ip4/10.0.${n >> 8}.${n & 255}/tcp/4001`],
      token,
    });
    emit(inviter, { kind: 'approve', candidate: idOf(n), request: request.hash });
    emit(n, { kind: 'pledge', pledgeBytes: pledge() });
    members.push(n);
  };
  emit(1, { kind: 'pledge', pledgeBytes: pledge() });
  while (members.length < 20) admit(1);
  while (ops.length < totalOps) {
    const r = random();
    const left = totalOps - ops.length;
    if (r < 0.6 || left < 4) {
      if (random() < 0.2 && left >= 2 && members.length >= 2) {
        const a = pick();
        let b = pick();
        while (b === a) b = pick();
        emitConcurrent(
          [a, { kind: 'pledge', pledgeBytes: pledge() }],
          [b, { kind: 'pledge', pledgeBytes: pledge() }],
        );
      } else emit(pick(), { kind: 'pledge', pledgeBytes: pledge() });
    } else if (r < 0.85) {
      const token = toHex(
        Uint8Array.from({ length: 32 }, (_, i) => (i < 4 ? (tokens >> (8 * i)) & 0xff : 9)),
      );
      tokens++;
      emit(pick(), { kind: 'invite', tokenHash: inviteTokenHash(token), expiresAtMs: atMs + DAY_MS });
    } else if (r < 0.95) {
      emit(pick(), {
        kind: 'agree',
        agreement: { ratio: [2, 2.5, 3][Math.floor(random() * 3)]!, tolerance: 1 },
      });
    } else if (r < 0.975 && members.length < 40) {
      admit(pick());
    } else if (members.length > 10) {
      const target = members[1 + Math.floor(random() * (members.length - 1))]!;
      emit(pick(), { kind: 'remove', member: idOf(target) });
      members.splice(members.indexOf(target), 1);
    }
  }
  return ops.slice(0, totalOps);
}
