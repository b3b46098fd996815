/**
 * libdatachannel's threads (the SCTP timer wakes every 10 ms) are released once WebRTC has been
 * idle (runtime/net/webrtc-release.ts), never while a WebRTC link is open, and WebRTC works again
 * afterwards. In-process libp2p nodes on 127.0.0.1: a relay, a member reachable only through it
 * (and WebRTC), and one that dials it.
 */
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWebRTC, probeDataChannel } from '../../../runtime/net/webrtc-probe.ts';
import { releaseIdleWebRTC } from '../../../runtime/net/webrtc-release.ts';
import {
  awaitCircuit,
  closeLinks,
  dialWebRTCRetrying,
  setPolicy,
  type TestNode,
  webrtcTrio,
} from './_helpers.ts';

const IDLE_MS = 300;

/** Threads of this process named `name` (Linux: /proc; elsewhere null, the check is skipped). */
function threadsNamed(name: string): number | null {
  try {
    return fs
      .readdirSync('/proc/self/task')
      .filter((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === name).length;
  } catch {
    return null;
  }
}

async function until(what: string, cond: () => boolean, withinMs = 20_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('releasing idle WebRTC', () => {
  let relay: TestNode;
  let hidden: TestNode;
  let writer: TestNode;
  const members = new Set<string>();

  beforeAll(async () => {
    ({ relay, hidden, writer } = await webrtcTrio(setPolicy(members), members));
    await awaitCircuit(hidden, relay);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([relay, hidden, writer].map((n) => n?.node.stop()));
  });

  const rtcAddress = () => hidden.node.getMultiaddrs().find((a) => a.toString().includes('/webrtc'))!;
  const webrtcLinks = () =>
    [...writer.node.getConnections(), ...hidden.node.getConnections()].filter(isWebRTC).length;

  it('keeps the library while a link is open, releases it once idle, and WebRTC works again', async () => {
    const released: string[] = [];
    let releasesWhileOpen = 0;
    // A stand-in release first: it must not run while the writer has a WebRTC link open. (Between
    // two dial attempts, with no link yet, it may: the helper pauses longer than IDLE_MS between
    // them; the hidden end of a failed attempt may still hold its half, but in a process of its own.)
    const stopFake = releaseIdleWebRTC(
      writer.node,
      () => {}, // its lines are not the real release's
      IDLE_MS,
      () => {
        if (writer.node.getConnections().some(isWebRTC)) releasesWhileOpen++;
      },
    );
    const link = await dialWebRTCRetrying(writer.node, rtcAddress());
    expect(isWebRTC(link)).toBe(true);
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    expect(writer.node.getConnections().some(isWebRTC)).toBe(true);
    expect(releasesWhileOpen).toBe(0);
    stopFake();

    // The real release, once both ends closed their side.
    const stop = releaseIdleWebRTC(writer.node, (l) => released.push(l), IDLE_MS);
    try {
      if (threadsNamed('SCTP timer') !== null) expect(threadsNamed('SCTP timer')).toBeGreaterThan(0);
      await closeLinks(writer.node, hidden.node.peerId);
      await until('both ends to close the WebRTC link', () => webrtcLinks() === 0);
      await until('the release', () => released.some((l) => l.includes('released')));
      if (threadsNamed('SCTP timer') !== null) expect(threadsNamed('SCTP timer')).toBe(0);

      const again = await dialWebRTCRetrying(writer.node, rtcAddress());
      expect(isWebRTC(again)).toBe(true);
      expect(await probeDataChannel(again)).toBeNull();
      await closeLinks(writer.node, hidden.node.peerId);
    } finally {
      stop();
    }
  }, 120_000);
});
