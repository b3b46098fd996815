/**
 * Owners' heads on disk: `heads/<owner id>.head`, the newest valid head per owner, written
 * atomically (temp, fsync, rename) and re-verified when loaded.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { decodeHead, headIsNewer, type SignedHead } from '../../../engine/index.ts';
import { nodeEd25519Verifier } from '../../crypto/ed25519.ts';
import { NetError } from '../../net/errors.ts';
import { StaleHeadError } from '../../net/head-protocol.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';

/** Bound on heads held (one per owner; a group is small). */
export const MAX_HEADS = 4096;

export class HeadStore {
  private readonly heads = new Map<string, SignedHead>();
  private readonly verify = nodeEd25519Verifier();

  constructor(
    private readonly dir: string,
    private readonly mayOwn: (owner: string) => boolean,
    onWarning: (t: string) => void,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith('.head')) continue;
      try {
        const head = decodeHead(fs.readFileSync(join(dir, name)), this.verify);
        if (`${head.owner}.head` !== name) throw new Error('stored under another owner');
        this.heads.set(head.owner, head);
      } catch (error) {
        onWarning(`ignoring head file ${name}: ${(error as Error).message}`);
      }
    }
  }

  get(owner: string): SignedHead | null {
    return this.heads.get(owner) ?? null;
  }

  async put(_from: string, bytes: Uint8Array): Promise<number> {
    let head: SignedHead;
    try {
      head = decodeHead(bytes, this.verify);
    } catch (error) {
      const code = (error as { code?: string }).code === 'bad-signature' ? 'bad-signature' : 'bad-message';
      throw new NetError(code, `head refused: ${(error as Error).message}`);
    }
    if (!this.mayOwn(head.owner))
      throw new NetError('unauthorized', `${head.owner} is not a member: its head is not kept`);
    const current = this.get(head.owner);
    if (current !== null && !headIsNewer(current, head)) throw new StaleHeadError(head.seq, current.seq);
    if (current === null && this.heads.size >= MAX_HEADS)
      throw new NetError('too-large', 'too many heads held');
    writeFileAtomic(join(this.dir, `${head.owner}.head`), bytes);
    this.heads.set(head.owner, head);
    return head.seq;
  }
}
