/**
 * The member's Ed25519 identity as a libp2p key: the identity seed from the recovery secret
 * (engine `deriveMemberKeys`) is the libp2p private key, so the PeerId is the member id.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { memberIdFromPublicKey } from '../../engine/index.ts';

export async function libp2pKeyFromSeed(
  signingSeed: Uint8Array,
  publicKey: Uint8Array,
): Promise<Ed25519PrivateKey> {
  if (signingSeed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const key = await generateKeyPairFromSeed('Ed25519', signingSeed);
  const peerId = peerIdFromPrivateKey(key).toString();
  const memberId = memberIdFromPublicKey(publicKey);
  if (peerId !== memberId) {
    throw new Error(`identity mismatch: libp2p PeerId ${peerId} differs from member id ${memberId}`);
  }
  return key;
}
