/**
 * `pb-node relay`: a standalone circuit relay v2 server for a group where no member is reachable.
 * It serves the members of the groups it is told (`--group <id>`), learnt from the group log each
 * member proves itself with (relay-members.ts), within the relay limits (node.ts); strangers are
 * refused and disconnected. It keeps its identity in a key file so members can name it in their
 * config.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { createPbNode, DEFAULT_RELAY_LIMITS } from '../../net/node.ts';
import { RelayMembers } from './relay-members.ts';

export interface StandaloneRelayOptions {
  listen: string[];
  /** Where the relay keeps its identity (created if missing); null: a new identity each run. */
  keyFile: string | null;
  /** The groups whose members it serves (group ids). */
  groupIds: readonly string[];
  /** Reservations held at once (default: DEFAULT_RELAY_LIMITS.maxReservations). */
  maxReservations?: number;
}

export async function runStandaloneRelay(
  options: StandaloneRelayOptions,
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<void> {
  const { listen, keyFile } = options;
  const maxReservations = options.maxReservations ?? DEFAULT_RELAY_LIMITS.maxReservations;
  if (!Number.isSafeInteger(maxReservations) || maxReservations < 1)
    throw new Error(`--max-reservations ${maxReservations}: give a whole number >= 1`);
  const members = new RelayMembers(options.groupIds, err);
  let seed: Uint8Array;
  if (keyFile !== null && fs.existsSync(keyFile))
    seed = Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'hex');
  else {
    seed = randomBytes(32);
    if (keyFile !== null) fs.writeFileSync(keyFile, Buffer.from(seed).toString('hex'), { mode: 0o600 });
  }
  const node = await createPbNode({
    privateKey: await generateKeyPairFromSeed('Ed25519', seed),
    listen,
    relayServer: true,
    relayLimits: { ...DEFAULT_RELAY_LIMITS, maxReservations },
    policy: () => members.policy(),
  });
  members.attach(node);
  for (const a of node.getMultiaddrs()) out(a.toString());
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void Promise.resolve(node.stop()).finally(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
