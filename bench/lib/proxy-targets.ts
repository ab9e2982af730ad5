// The proxies bench/proxy.ts measures, each started fresh for one measurement and stopped after it:
// HAProxy tuned as its users tune it for TCP (splice, a buffer as large as the relay's reads, 1 or 2
// threads), the old Go userspace data path (io.Copy), and dockerlet's data paths (bench/lib/proxy-child.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, run, startChild, waitForPort, type Child } from './proc.js';
import type { ChildConfig } from './proxy-child.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

export interface Fronts {
  iperfPort: number;
  httpPort: number;
  /** Process groups of the proxy (for CPU accounting). */
  pgids: number[];
  stop(): Promise<void>;
}

export interface Backends {
  iperf: number;
  http: number;
}

/** The relay's read size (proxy/native/relay.h READ_BUF): HAProxy's buffer is made as large. */
export const RELAY_READ_BYTES = 256 * 1024;

/** Builds the Go helpers (old userspace proxy, HTTP server, fixed-rate client) into out/. */
export async function goBuild(out: string): Promise<string> {
  const go = process.env.GO ?? (await run('sh', ['-c', 'command -v go || echo /usr/local/go/bin/go'])).trim();
  const dir = path.join(here, '..', 'goproxy');
  await run('sh', ['-c', `cd '${dir}' && '${go}' build -o '${out}/goproxy' . && '${go}' build -o '${out}/httpd' ./httpd && '${go}' build -o '${out}/ratecli' ./ratecli`], 300_000);
  return go;
}

async function twoPorts(): Promise<[number, number]> {
  return [await freePort(), await freePort()];
}

/** Waits for the proxy's start-up line (never probes the iperf3 port: a probe would disturb iperf3's control protocol). */
async function ready(c: Child, pi: number, ph: number, re: RegExp): Promise<Fronts> {
  try {
    await c.waitFor(re);
  } catch (err) {
    await c.stop();
    throw err;
  }
  return { iperfPort: pi, httpPort: ph, pgids: [c.proc.pid!], stop: () => c.stop() };
}

/** HAProxy in TCP mode with splice-auto and tune.bufsize as large as the relay's reads. */
export async function startHaproxy(dir: string, threads: number, b: Backends): Promise<Fronts> {
  const [pi, ph] = await twoPorts();
  const cfg = `global\n  nbthread ${threads}\n  maxconn 4000\n  tune.bufsize ${RELAY_READ_BYTES}\n`
    + `defaults\n  mode tcp\n  option splice-auto\n  timeout connect 5s\n  timeout client 1m\n  timeout server 1m\n`
    + `frontend fi\n  bind 127.0.0.1:${pi}\n  default_backend bi\nbackend bi\n  server s1 127.0.0.1:${b.iperf}\n`
    + `frontend fh\n  bind 127.0.0.1:${ph}\n  default_backend bh\nbackend bh\n  server s1 127.0.0.1:${b.http}\n`;
  const file = path.join(dir, `haproxy-${threads}.cfg`);
  await writeFile(file, cfg);
  const c = startChild('haproxy', ['-db', '-f', file]);
  await waitForPort(ph, '127.0.0.1', 20_000).catch(async (err) => { await c.stop(); throw new Error(`${(err as Error).message}: ${c.output()}`); });
  return { iperfPort: pi, httpPort: ph, pgids: [c.proc.pid!], stop: () => c.stop() };
}

export async function startGo(dir: string, b: Backends): Promise<Fronts> {
  const [pi, ph] = await twoPorts();
  const a = startChild(path.join(dir, 'goproxy'), ['-listen', `127.0.0.1:${pi}`, '-backend', `127.0.0.1:${b.iperf}`]);
  const h = startChild(path.join(dir, 'goproxy'), ['-listen', `127.0.0.1:${ph}`, '-backend', `127.0.0.1:${b.http}`]);
  const fa = await ready(a, pi, pi, /listening/);
  const fh = await ready(h, ph, ph, /listening/);
  return { iperfPort: pi, httpPort: ph, pgids: [...fa.pgids, ...fh.pgids], stop: async () => { await fa.stop(); await fh.stop(); } };
}

/** variant: "native" | "pump", optionally "+hwm<N>k" (the pump's stream highWaterMark). */
export function parseVariant(v: string): Omit<ChildConfig, 'routes'> {
  const [mode, ...mods] = v.split('+');
  if (mode !== 'native' && mode !== 'pump') throw new Error(`unknown data path ${mode} (native | pump)`);
  const cfg: Omit<ChildConfig, 'routes'> = { mode };
  for (const m of mods) {
    const hwm = /^hwm(\d+)k$/.exec(m);
    if (hwm) cfg.highWaterMark = Number(hwm[1]) * 1024;
    else throw new Error(`unknown variant modifier ${m}`);
  }
  return cfg;
}

export async function startDockerlet(variant: string, b: Backends): Promise<Fronts> {
  const [pi, ph] = await twoPorts();
  const cfg: ChildConfig = { ...parseVariant(variant), routes: [
    { port: pi, backendHost: '127.0.0.1', backendPort: b.iperf },
    { port: ph, backendHost: '127.0.0.1', backendPort: b.http },
  ] };
  const c = startChild(process.execPath, ['--import', 'tsx', path.join(here, 'proxy-child.ts'), JSON.stringify(cfg)], { cwd: root });
  const f = await ready(c, pi, ph, /listening/);
  if (!new RegExp(`mode=${cfg.mode}\\b`).test(c.output())) { await f.stop(); throw new Error(`dockerlet[${variant}] did not run its data path: ${c.output()}`); }
  return f;
}

/** Versions of every program in the comparison. */
export async function versions(go: string): Promise<Record<string, string>> {
  const first = async (cmd: string, args: string[]) => (await run(cmd, args).catch((e: { stdout?: string; stderr?: string }) => e.stdout || e.stderr || 'unknown')).split('\n')[0]!.trim();
  return {
    haproxy: await first('haproxy', ['-v']),
    go: await first(go, ['version']),
    wrk: await first('sh', ['-c', 'wrk -v 2>&1 | head -n 1']),
    iperf3: await first('iperf3', ['-v']),
    node: process.version,
  };
}
