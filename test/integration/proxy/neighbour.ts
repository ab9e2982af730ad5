// A neighbouring host for the CVE-2020-8558 tests: a network namespace behind a veth pair whose host
// end has an address on a /30 of the benchmarking range (198.18.0.0/15, never routed), and a probe
// that sends raw TCP SYNs from the namespace to the host's MAC (fixtures/syn-probe.py). Packets go
// only over this veth, to this host.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'syn-probe.py');

export type ProbeResult = 'synack' | 'rst' | 'none';

export interface Neighbour {
  /** The host end's address (on the veth). */
  hostIP: string;
  /** The namespace end's address. */
  nsIP: string;
  /** Sends SYNs from the namespace to ip:port (ip may be 127.0.0.1) via the host's MAC; what came back. */
  probe(ip: string, port: number): Promise<ProbeResult>;
  remove(): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args, { timeout: 10_000 })).stdout;
}

export async function neighbour(): Promise<Neighbour> {
  const id = process.pid % 100_000;
  const ns = `dkl-nb-${id}`;
  const hostIf = `dklnb${id}h`;
  const nsIf = `dklnb${id}n`;
  const net = 4 * (id % 60);
  const hostIP = `198.18.${200 + Math.floor(id / 60) % 50}.${net + 1}`;
  const nsIP = hostIP.replace(/\.\d+$/, `.${net + 2}`);
  const remove = async () => {
    await ip('link', 'del', hostIf).catch(() => undefined);
    await ip('netns', 'del', ns).catch(() => undefined);
  };
  await remove();
  try {
    await ip('netns', 'add', ns);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    await ip('link', 'set', nsIf, 'netns', ns);
    await ip('addr', 'add', `${hostIP}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', ns, 'addr', 'add', `${nsIP}/30`, 'dev', nsIf);
    await ip('-n', ns, 'link', 'set', nsIf, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  } catch (err) {
    await remove();
    throw err;
  }
  const hostMac = readFileSync(`/sys/class/net/${hostIf}/address`, 'utf8').trim();
  return {
    hostIP, nsIP, remove,
    async probe(dst, port) {
      const out = (await run('ip', ['netns', 'exec', ns, 'python3', PROBE, nsIf, hostMac, nsIP, dst, String(port), '3'], { timeout: 15_000 })).stdout.trim();
      if (out !== 'synack' && out !== 'rst' && out !== 'none') throw new Error(`syn-probe printed ${JSON.stringify(out)}`);
      return out;
    },
  };
}
