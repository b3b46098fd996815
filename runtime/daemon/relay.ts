/**
 * `pb-node relay`: a standalone circuit relay v2 server for a group where no member is reachable.
 * It holds no group state: it relays for anyone, within the relay limits (node.ts), and keeps its
 * identity in a key file so members can name it in their config.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { OPEN_POLICY } from '../net/access.ts';
import { createPbNode } from '../net/node.ts';

export async function runStandaloneRelay(
  listen: string[],
  keyFile: string | null,
  out: (t: string) => void,
): Promise<void> {
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
    policy: () => OPEN_POLICY,
  });
  for (const a of node.getMultiaddrs()) out(a.toString());
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void Promise.resolve(node.stop()).finally(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
