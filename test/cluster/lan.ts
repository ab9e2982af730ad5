// The multi-node bed's "LAN": one Linux bridge inside a network namespace of its own (so the host's
// br_netfilter + FORWARD DROP policy never sees bridged frames), the host attached by a veth at
// 10.110.<k>.1/24, and one network namespace per node with a veth on the bridge at 10.110.<k>.(10+i)/24
// and a default route via 10.110.<k>.254, an address nobody holds: the LAN has no way out, so a packet for
// an address no node routes dies in its namespace (no ARP answer) instead of reaching the host's uplink.
// Only the host's 10.110.<k>.1 (the apiserver) is reachable, on-link. Pure plan (names, addresses) + apply/teardown with `ip`.
// 10.110.0.0/16 lies inside the egress guard's 10.96.0.0/12: nothing addressed there can leave eth0.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

const execFileP = promisify(execFile);

export interface LanNode {
  /** Kubernetes node name. */
  name: string;
  /** Its network namespace (/var/run/netns/<netns>). */
  netns: string;
  ip: string;
  /** veth end on the bridge (in the LAN namespace). */
  lanIf: string;
}

export interface LanPlan {
  /** 0..255: third octet of 10.110.<k>.0/24; also in every name, so two beds can run at once. */
  index: number;
  tag: string;
  cidr: string;
  hostIP: string;
  /** The nodes' default gateway: on the LAN, held by nobody. */
  gateway: string;
  /** The namespace that holds the bridge. */
  lanNetns: string;
  bridge: string;
  /** Host end / LAN end of the host's veth. */
  hostIf: string;
  hostPeer: string;
  nodes: LanNode[];
}

export const LAN_PREFIX = '10.110';

/** Names and addresses of a LAN with `count` nodes (pure). Interface names stay within 15 characters. */
export function planLan(index: number, count: number, tag = `b${index}`): LanPlan {
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new RangeError(`LAN index ${index} not in 0..255`);
  if (!Number.isInteger(count) || count < 1 || count > 200) throw new RangeError(`node count ${count} not in 1..200`);
  if (!/^[a-z0-9]{1,6}$/.test(tag)) throw new RangeError(`LAN tag ${JSON.stringify(tag)} must be 1-6 of [a-z0-9]`);
  const base = `${LAN_PREFIX}.${index}`;
  return {
    index, tag,
    cidr: `${base}.0/24`,
    hostIP: `${base}.1`,
    gateway: `${base}.254`,
    lanNetns: `dkl-${tag}-lan`,
    bridge: 'br-lan',
    hostIf: `dkl${tag}h`,
    hostPeer: 'host',
    nodes: Array.from({ length: count }, (_, i) => ({
      name: `node-${tag}-${i + 1}`,
      netns: `dkl-${tag}-n${i + 1}`,
      ip: `${base}.${11 + i}`,
      lanIf: `n${i + 1}`,
    })),
  };
}

/** A free LAN index: no host address in 10.110.<k>.0/24 and no namespace of that tag yet. */
export function pickLanIndex(hostAddrs: string, netnsList: string): number {
  const used = new Set<number>();
  for (const m of hostAddrs.matchAll(/\b10\.110\.(\d+)\.\d+\//g)) used.add(Number(m[1]));
  for (const m of netnsList.matchAll(/\bdkl-b(\d+)-/g)) used.add(Number(m[1]));
  for (let k = 0; k < 256; k++) if (!used.has(k)) return k;
  throw new DockerletError(ErrorCodes.CONTROL_PLANE, 'no free 10.110.<k>.0/24 LAN left on this host');
}

export async function ip(args: string[]): Promise<string> {
  try {
    return (await execFileP('ip', args, { timeout: 15_000 })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `ip ${args.join(' ')}: ${stderr || String(err)}`, { cause: err });
  }
}

/** Runs a command inside a network namespace (nsenter --net: same mount namespace, unlike `ip netns exec`). */
export async function inNetns(netns: string, cmd: string[], timeoutMs = 15_000): Promise<{ stdout: string; stderr: string }> {
  const [bin, ...args] = cmd;
  if (!bin) throw new DockerletError(ErrorCodes.CONTROL_PLANE, 'empty command');
  return execFileP('nsenter', [`--net=/var/run/netns/${netns}`, '--', bin, ...args], { timeout: timeoutMs, maxBuffer: 8 << 20 });
}

/** Creates the LAN of a plan. On failure, whatever was made is removed again. */
export async function createLan(plan: LanPlan): Promise<void> {
  try {
    await ip(['netns', 'add', plan.lanNetns]);
    const inLan = (...a: string[]) => ip(['-n', plan.lanNetns, ...a]);
    await inLan('link', 'add', plan.bridge, 'type', 'bridge');
    await inLan('link', 'set', plan.bridge, 'up');
    await inLan('link', 'set', 'lo', 'up');
    // host <-> LAN
    await ip(['link', 'add', plan.hostIf, 'type', 'veth', 'peer', 'name', plan.hostPeer, 'netns', plan.lanNetns]);
    await inLan('link', 'set', plan.hostPeer, 'master', plan.bridge, 'up');
    await ip(['addr', 'add', `${plan.hostIP}/24`, 'dev', plan.hostIf]);
    await ip(['link', 'set', plan.hostIf, 'up']);
    for (const n of plan.nodes) await addLanNode(plan, n);
  } catch (err) {
    await deleteLan(plan);
    throw err;
  }
}

/** One node namespace on the LAN: eth0 with its address, lo up, default route via the LAN's dead-end gateway. */
export async function addLanNode(plan: LanPlan, n: LanNode): Promise<void> {
  await ip(['netns', 'add', n.netns]);
  const inNode = (...a: string[]) => ip(['-n', n.netns, ...a]);
  await ip(['-n', plan.lanNetns, 'link', 'add', n.lanIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
  await ip(['-n', plan.lanNetns, 'link', 'set', n.lanIf, 'master', plan.bridge, 'up']);
  await inNode('link', 'set', 'lo', 'up');
  await inNode('addr', 'add', `${n.ip}/24`, 'dev', 'eth0');
  await inNode('link', 'set', 'eth0', 'up');
  await inNode('route', 'add', 'default', 'via', plan.gateway);
}

/** Removes one node's namespace (its veth goes with it). Missing pieces are fine. */
export async function deleteLanNode(n: LanNode): Promise<void> {
  await ip(['netns', 'del', n.netns]).catch(() => undefined);
}

/** Removes the node namespaces, the host veth and the LAN namespace. Idempotent. */
export async function deleteLan(plan: LanPlan): Promise<void> {
  for (const n of plan.nodes) await deleteLanNode(n);
  await ip(['link', 'del', plan.hostIf]).catch(() => undefined);
  await ip(['netns', 'del', plan.lanNetns]).catch(() => undefined);
}

/** Synchronous last-resort cleanup for exit hooks. */
export function deleteLanSync(plan: LanPlan): void {
  for (const args of [...plan.nodes.map((n) => ['netns', 'del', n.netns]), ['link', 'del', plan.hostIf], ['netns', 'del', plan.lanNetns]]) {
    try {
      execFileSync('ip', args, { stdio: 'ignore', timeout: 5_000 });
    } catch {
      /* already gone */
    }
  }
}

/** The host's current IPv4 addresses and namespaces (for pickLanIndex). */
export async function hostNetworkState(): Promise<{ addrs: string; netns: string }> {
  const addrs = await ip(['-4', '-o', 'addr', 'show']);
  let netns = '';
  try {
    netns = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes('/run/netns/')).join('\n');
  } catch {
    /* none */
  }
  netns += `\n${await ip(['netns', 'list'])}`;
  return { addrs, netns };
}
