/**
 * A NAT testbed of network namespaces (Linux, root): an "internet" bridge, a public host running
 * the relay (`pb-node relay`) and a STUN server (coturn in STUN-only mode), and homes behind
 * routers that NAT with iptables (MASQUERADE; `--random-fully` for a symmetric NAT) and drop
 * unsolicited packets from the internet side. Every home numbers its LAN the same way
 * (192.168.1.0/24, the member at 192.168.1.10), as neighbours' routers do.
 *
 *   internet 198.51.100.0/24 (a bridge in the hub namespace)
 *     .2  public host: relay on tcp/4002, STUN on udp/3478
 *     .1x router of home x  --NAT--  192.168.1.10 (the member of home x)
 *
 * Everything lives in namespaces named `pbt-<pid>-...` (interfaces inside them, iptables rules
 * in the routers' own namespaces), so deleting the namespaces removes it all; `teardown` also
 * kills every process left in them. Nothing leaves the machine: the testbed has no route out.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type NodeConfig, paths, renderConfig } from '../../runtime/daemon/config/config.ts';
import { BIN, type Wrap, waitFor } from '../runtime/daemon/_cluster.ts';

export const INTERNET_PREFIX = '198.51.100';
export const PUBLIC_IP = `${INTERNET_PREFIX}.2`;
export const MEMBER_IP = '192.168.1.10';
export const RELAY_PORT = 4002;
export const STUN_PORT = 3478;
/** Every member listens on this port (each in its own namespace). */
export const MEMBER_PORT = 4001;

export interface HomeSpec {
  name: string;
  /** A symmetric NAT: a new public port per destination (`MASQUERADE --random-fully`). */
  symmetric?: boolean;
}

export interface Home {
  name: string;
  ns: string;
  router: string;
  /** The router's public address (renumber changes it). */
  wanIp: string;
  wrap: Wrap;
}

const run = (args: string[]): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8' });
const quiet = (args: string[]): void => {
  try {
    execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' });
  } catch {}
};

/** Why the testbed cannot run here, or null: needs root, `ip netns`, iptables and coturn. */
export function testbedUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces and iptables need root';
  for (const tool of ['ip', 'iptables', 'turnserver']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt packages iproute2, iptables, coturn)`;
    }
  }
  const probe = `pbt-${process.pid}-probe`;
  try {
    run(['ip', 'netns', 'add', probe]);
    run(['ip', 'netns', 'exec', probe, 'iptables', '-t', 'nat', '-L', '-n']);
  } catch (error) {
    return `cannot create a network namespace with iptables: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    quiet(['ip', 'netns', 'del', probe]);
  }
  return null;
}

/** The public host's relay, in one place: its command line is what a deployment runs. */
export interface RelayOptions {
  keyFile: string;
  /** The group it serves (`--group`): the relay carries that group's members only. */
  groupId: string;
  /** Default RELAY_PORT. */
  port?: number;
  /** Extra `pb-node relay` arguments. */
  extraArgs?: string[];
}

export class Testbed {
  readonly prefix = `pbt-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  readonly hub = `${this.prefix}-hub`;
  readonly pub = `${this.prefix}-pub`;
  readonly homes: Home[] = [];
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly onExit = (): void => this.removeNamespaces();
  relay: { child: ChildProcess; address: string; id: string } | null = null;

  constructor(readonly root: string) {
    process.once('exit', this.onExit);
  }

  /** Builds the internet, the public host and the homes (routers with NAT and a firewall). */
  build(homes: HomeSpec[]): void {
    this.addNamespace(this.hub);
    this.ipn(this.hub, ['link', 'add', 'br0', 'type', 'bridge']);
    this.ipn(this.hub, ['link', 'set', 'br0', 'up']);
    this.attach(this.pub, PUBLIC_IP);
    homes.forEach((spec, i) => {
      const router = `${this.prefix}-r${spec.name}`;
      const ns = `${this.prefix}-${spec.name}`;
      const wanIp = `${INTERNET_PREFIX}.${11 + i}`;
      this.attach(router, wanIp);
      this.addNamespace(ns);
      this.ipn(router, ['link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      this.ipn(router, ['addr', 'add', '192.168.1.1/24', 'dev', 'lan']);
      this.ipn(router, ['link', 'set', 'lan', 'up']);
      this.ipn(ns, ['addr', 'add', `${MEMBER_IP}/24`, 'dev', 'eth0']);
      this.ipn(ns, ['link', 'set', 'eth0', 'up']);
      this.ipn(ns, ['route', 'add', 'default', 'via', '192.168.1.1']);
      const inNs = ['ip', 'netns', 'exec', router];
      run([...inNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      const masquerade = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE'];
      run([...inNs, 'iptables', ...masquerade, ...(spec.symmetric ? ['--random-fully'] : [])]);
      for (const chain of ['FORWARD', 'INPUT']) {
        run(
          [...inNs, 'iptables', '-A', chain, '-i', 'wan', '-m', 'conntrack', '--ctstate'].concat([
            'ESTABLISHED,RELATED',
            '-j',
            'ACCEPT',
          ]),
        );
        run([...inNs, 'iptables', '-A', chain, '-i', 'wan', '-j', 'DROP']);
      }
      this.homes.push({ name: spec.name, ns, router, wanIp, wrap: ['ip', 'netns', 'exec', ns] });
    });
  }

  /**
   * The provider gives home `name` a new public address, as a router's reconnect does: the
   * router's WAN address changes and the kernel drops the NAT mappings of the old one, so every
   * connection out of the home breaks and has to be made again from the new address.
   */
  renumber(name: string, wanIp: string): void {
    const h = this.home(name);
    this.ipn(h.router, ['addr', 'del', `${h.wanIp}/24`, 'dev', 'wan']);
    this.ipn(h.router, ['addr', 'add', `${wanIp}/24`, 'dev', 'wan']);
    h.wanIp = wanIp;
  }

  home(name: string): Home {
    const h = this.homes.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no home ${name} in the testbed`);
    return h;
  }

  /**
   * The command prefix of a member's processes in home `name`. Debugging: with PB_NAT_DEBUG_DIR
   * set, libp2p's debug output (DEBUG, default its WebRTC, dialling and relay modules) is
   * appended to `<PB_NAT_DEBUG_DIR>/<name>.debug`, and `keepLogs` copies the members' logs there.
   */
  memberWrap(name: string): Wrap {
    const dir = process.env.PB_NAT_DEBUG_DIR;
    if (dir === undefined) return this.home(name).wrap;
    const debug = process.env.DEBUG ?? 'libp2p:webrtc*,libp2p:connection-manager*,libp2p:circuit-relay*';
    const file = join(dir, `${name}.debug`);
    return [...this.home(name).wrap, 'env', `DEBUG=${debug}`, 'sh', '-c', `exec "$@" 2>>${file}`, 'sh'];
  }

  /** With PB_NAT_DEBUG_DIR set, copies each member's pb-node.log there (see memberWrap). */
  keepLogs(names: readonly string[]): void {
    const dir = process.env.PB_NAT_DEBUG_DIR;
    if (dir === undefined) return;
    for (const n of names) {
      const log = join(this.root, n, 'pb-node.log');
      if (fs.existsSync(log)) fs.copyFileSync(log, join(dir, `${n}.log`));
    }
  }

  get pubWrap(): Wrap {
    return ['ip', 'netns', 'exec', this.pub];
  }

  /** coturn as a STUN server only, on the public address only. */
  async startStun(): Promise<string> {
    const child = this.spawnIn(this.pub, 'turnserver', [
      '--stun-only',
      '--listening-ip',
      PUBLIC_IP,
      '--listening-port',
      String(STUN_PORT),
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--no-software-attribute',
      '-n',
      '--log-file',
      'stdout',
    ]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-10_000);
    });
    await waitFor(
      'the STUN server to listen',
      async () => {
        if (child.exitCode !== null) throw new Error(`turnserver exited: ${out}`);
        return run(['ip', 'netns', 'exec', this.pub, 'ss', '-uln']).includes(`${PUBLIC_IP}:${STUN_PORT}`);
      },
      20_000,
    );
    return `stun:${PUBLIC_IP}:${STUN_PORT}`;
  }

  /** `pb-node relay` on the public host; the same key file keeps the same relay identity. */
  async startRelay(options: RelayOptions): Promise<string> {
    const child = this.spawnIn(this.pub, process.execPath, [
      BIN,
      'relay',
      '--listen',
      `/ip4/${PUBLIC_IP}/tcp/${options.port ?? RELAY_PORT}`,
      '--key-file',
      options.keyFile,
      '--group',
      options.groupId,
      ...(options.extraArgs ?? []),
    ]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    let err = '';
    const log = fs.createWriteStream(join(this.root, 'relay.log'), { flags: 'a' });
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-10_000);
      log.write(d);
    });
    child.once('exit', () => log.end());
    const address = await waitFor(
      'the relay address',
      async () => {
        if (child.exitCode !== null) throw new Error(`pb-node relay exited: ${err}`);
        return out.split('\n').find((l) => l.startsWith(`/ip4/${PUBLIC_IP}/`));
      },
      60_000,
    );
    this.relay = { child, address, id: address.split('/p2p/')[1]! };
    return address;
  }

  /** Stops the relay (SIGKILL: a crash or a power cut, no goodbye to anyone). */
  async killRelay(): Promise<void> {
    const relay = this.relay;
    this.relay = null;
    if (relay === null || relay.child.exitCode !== null) return;
    const exited = new Promise((r) => relay.child.once('exit', r));
    relay.child.kill('SIGKILL');
    await exited;
  }

  /**
   * Shapes every home's internet link like a home line: a token bucket (tc tbf) on the router's
   * `wan` (uplink) and `lan` (downlink) sides, `rate` each way (tc units, e.g. 50mbit), queueing
   * at most `queueMs` before it drops. The queues live in the routers' namespaces and go with
   * them. (tbf, not netem: netem, and so added delay, is missing from some kernels.)
   */
  shapeHomes(rate: string, queueMs = 50): void {
    for (const home of this.homes)
      for (const dev of ['wan', 'lan'])
        run(
          ['ip', 'netns', 'exec', home.router, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf'].concat([
            'rate',
            rate,
            'burst',
            '64kb',
            'latency',
            `${queueMs}ms`,
          ]),
        );
  }

  /** Starts `file args` in namespace `ns` (stdout and stderr piped); teardown kills it. */
  spawnIn(ns: string, file: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** Kills every process in the testbed's namespaces, then deletes the namespaces. */
  async teardown(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    this.removeNamespaces();
    process.removeListener('exit', this.onExit);
  }

  private removeNamespaces(): void {
    for (const ns of this.namespaces.splice(0).reverse()) {
      let pids: string[] = [];
      try {
        pids = run(['ip', 'netns', 'pids', ns])
          .split('\n')
          .filter((p) => /^\d+$/.test(p));
      } catch {}
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
      quiet(['ip', 'netns', 'del', ns]);
    }
  }

  private addNamespace(ns: string): void {
    run(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    this.ipn(ns, ['link', 'set', 'lo', 'up']);
  }

  /** A namespace on the internet bridge at `ip`. */
  private attach(ns: string, ip: string): void {
    this.addNamespace(ns);
    const port = `v${this.namespaces.length}`;
    this.ipn(this.hub, ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'wan', 'netns', ns]);
    this.ipn(this.hub, ['link', 'set', port, 'master', 'br0']);
    this.ipn(this.hub, ['link', 'set', port, 'up']);
    this.ipn(ns, ['addr', 'add', `${ip}/24`, 'dev', 'wan']);
    this.ipn(ns, ['link', 'set', 'wan', 'up']);
  }

  private ipn(ns: string, args: string[]): void {
    run(['ip', '-n', ns, ...args]);
  }
}

/** Changes settings of a member's config (before its daemon starts), through the config module. */
export function setConfig(dir: string, values: Partial<NodeConfig>): void {
  const config = loadConfig(dir);
  for (const key of Object.keys(values))
    if (!(key in config)) throw new Error(`${paths(dir).config} has no setting ${key}`);
  fs.writeFileSync(paths(dir).config, renderConfig({ ...config, ...values }), { mode: 0o600 });
}

export function readConfigValue(dir: string, key: keyof NodeConfig): unknown {
  return loadConfig(dir)[key];
}

export const dataDir = (root: string, name: string): string => join(root, name);
