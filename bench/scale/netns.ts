// A network namespace of the bench's own per proxy under test (kube-proxy's rules never touch the
// host's): a veth to the host (the API server is reached at the host's advertise address through it,
// the bench reads metrics at the namespace's end), a dummy device holding the endpoint range as local
// addresses (AnyIP: every 10.250.x.y is this namespace's own, one wildcard listener serves them all),
// and the Service CIDR routed into that device so nothing unprogrammed ever leaves the namespace.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ENDPOINT_NET = '10.250.0.0/16';

export interface Netns {
  name: string;
  /** The namespace's veth address (metrics ports are reached here from the host). */
  nsIP: string;
  hostIP: string;
  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[]): Promise<string>;
  remove(): Promise<void>;
}

async function ip(args: string[]): Promise<string> {
  return (await run('ip', args, { timeout: 20_000 })).stdout;
}

/**
 * Creates `name` with veth `<tag>h`/`<tag>n` on 169.254.<octet>.0/30 (link-local, between the host
 * and this namespace only). `apiserverIP` is the host address the namespace reaches the API server at.
 */
export async function createNetns(name: string, tag: string, octet: number, serviceCidr: string, apiserverIP: string): Promise<Netns> {
  const hostIP = `169.254.${octet}.1`;
  const nsIP = `169.254.${octet}.2`;
  const hostDev = `${tag}h`;
  const nsDev = `${tag}n`;
  await ip(['netns', 'del', name]).catch(() => undefined);
  await ip(['link', 'del', hostDev]).catch(() => undefined);
  await ip(['netns', 'add', name]);
  const inNs = (args: string[]) => ip(['-n', name, ...args]);
  try {
    await ip(['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev, 'netns', name]);
    await ip(['addr', 'add', `${hostIP}/30`, 'dev', hostDev]);
    await ip(['link', 'set', hostDev, 'up']);
    await inNs(['link', 'set', 'lo', 'up']);
    await inNs(['addr', 'add', `${nsIP}/30`, 'dev', nsDev]);
    await inNs(['link', 'set', nsDev, 'up']);
    await inNs(['route', 'add', `${apiserverIP}/32`, 'via', hostIP, 'dev', nsDev]);
    // A veth pair with both ends in the namespace stands in for a dummy device (no dummy module here):
    // what goes out of ep0 arrives at ep1, is not local, and is dropped (no forwarding in the namespace).
    await inNs(['link', 'add', 'ep0', 'type', 'veth', 'peer', 'name', 'ep1']);
    await inNs(['addr', 'add', '10.250.0.1/16', 'dev', 'ep0']);
    await inNs(['link', 'set', 'ep0', 'up']);
    await inNs(['link', 'set', 'ep1', 'up']);
    await inNs(['route', 'add', 'local', ENDPOINT_NET, 'dev', 'ep0', 'table', 'local']);
    await inNs(['route', 'add', serviceCidr, 'dev', 'ep0']);
  } catch (err) {
    await ip(['netns', 'del', name]).catch(() => undefined);
    await ip(['link', 'del', hostDev]).catch(() => undefined);
    throw err;
  }
  return {
    name, nsIP, hostIP,
    exec: async (cmd, args) => (await run('ip', ['netns', 'exec', name, cmd, ...args], { timeout: 60_000, maxBuffer: 64 << 20 })).stdout,
    remove: async () => {
      await ip(['netns', 'del', name]).catch(() => undefined);
      await ip(['link', 'del', hostDev]).catch(() => undefined);
    },
  };
}

/** Endpoint address number n (0-based) in the endpoint range, skipping .0/.1/.255 of each /24. */
export function endpointIP(n: number): string {
  const third = Math.floor(n / 250);
  const fourth = 2 + (n % 250);
  if (third > 255) throw new RangeError(`endpoint ${n} beyond ${ENDPOINT_NET}`);
  return `10.250.${third}.${fourth}`;
}
