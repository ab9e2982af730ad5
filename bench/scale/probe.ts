// Runs inside a bench network namespace (started by bench/proxy-scale.ts through `ip netns exec`):
// the endpoints (one wildcard listener on :8080; every 10.250.x.y is local there, so the address a
// connection was accepted on names the endpoint the proxy chose), a client doing a fixed number of
// connections per second to one Service, and a holder of N idle proxied connections.
// Commands come as JSON lines on stdin, events go as JSON lines on stdout. Every loop is bounded.
import net from 'node:net';
import { createInterface } from 'node:readline';

type Cmd =
  | { cmd: 'watch'; gen: number; ips: string[] }
  | { cmd: 'client'; host: string; port: number; perSecond: number; seconds: number }
  | { cmd: 'hold'; host: string; port: number; n: number; parallel: number }
  | { cmd: 'release' }
  | { cmd: 'exit' };

const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

// Endpoint side: answer with the address we were reached at, keep the connection open until the peer closes it.
/** Endpoint address → the generation of the churning Service's endpoints it belongs to (until first reached). */
const watching = new Map<string, number>();
const server = net.createServer({ noDelay: true }, (s) => {
  const ip = s.localAddress?.replace(/^::ffff:/, '') ?? '';
  const gen = watching.get(ip);
  if (gen !== undefined) {
    emit({ ev: 'hit', gen, ip, t: Date.now() });
    for (const [k, g] of watching) if (g === gen) watching.delete(k);
  }
  s.on('error', () => undefined);
  s.write(`${ip}\n`);
});
server.maxConnections = 100_000;
server.listen({ port: Number(process.env.PROBE_PORT ?? 8080), host: '0.0.0.0', backlog: 4096 }, () => emit({ ev: 'ready' }));

/** One connection: connect, read the endpoint's line, close. Resolves with the endpoint IP or an error code. */
function once(host: string, port: number, timeoutMs = 3000): Promise<{ ok: boolean; v: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = '';
    let done = false;
    const finish = (ok: boolean, v: string) => { if (!done) { done = true; s.destroy(); resolve({ ok, v }); } };
    s.setTimeout(timeoutMs, () => finish(false, 'TIMEOUT'));
    s.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) finish(true, buf.trim()); });
    s.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
    s.on('end', () => finish(buf.includes('\n'), buf.includes('\n') ? buf.trim() : 'EMPTY'));
  });
}

async function client(c: Extract<Cmd, { cmd: 'client' }>): Promise<void> {
  const total = Math.min(c.perSecond * c.seconds, 100_000);
  const codes: Record<string, number> = {};
  let ok = 0;
  const t0 = Date.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / c.perSecond;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(once(c.host, c.port).then((r) => {
      if (r.ok) ok++;
      else codes[r.v] = (codes[r.v] ?? 0) + 1;
    }));
  }
  await Promise.all(inflight);
  emit({ ev: 'client', attempted: total, ok, failed: total - ok, codes, seconds: (Date.now() - t0) / 1000 });
}

const held: net.Socket[] = [];
async function hold(c: Extract<Cmd, { cmd: 'hold' }>): Promise<void> {
  const n = Math.min(c.n, 60_000);
  let failed = 0;
  let next = 0;
  const codes: Record<string, number> = {};
  await Promise.all(Array.from({ length: c.parallel }, async () => {
    while (next < n) {
      next++;
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: c.host, port: c.port });
        const fail = (code: string) => { failed++; codes[code] = (codes[code] ?? 0) + 1; s.destroy(); resolve(); };
        s.setTimeout(10_000, () => fail('TIMEOUT'));
        s.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
        s.once('data', () => { s.setTimeout(0); s.removeAllListeners('error'); s.on('error', () => undefined); held.push(s); resolve(); });
      });
    }
  }));
  emit({ ev: 'held', n: held.length, failed, codes });
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let c: Cmd;
  try { c = JSON.parse(line) as Cmd; } catch { return; }
  if (c.cmd === 'watch') for (const ip of c.ips) watching.set(ip, c.gen);
  else if (c.cmd === 'client') void client(c);
  else if (c.cmd === 'hold') void hold(c);
  else if (c.cmd === 'release') { for (const s of held.splice(0)) s.destroy(); emit({ ev: 'released' }); }
  else if (c.cmd === 'exit') process.exit(0);
});
rl.on('close', () => process.exit(0));
// Never outlive the bench: at most 30 minutes.
setTimeout(() => process.exit(0), 30 * 60_000).unref();
