// One probe against one container, as upstream pkg/probe/{http,tcp,exec,grpc}: httpGet (200–399 is
// success, same-host redirects followed), tcpSocket (connect within the timeout), exec (exit 0 is
// success, timeout is failure), grpc (grpc.health.v1 Check answers SERVING; ./grpc.ts). 'unknown' means
// the probe could not run (error or unsupported mechanism); callers throw such results away, as
// upstream's worker does with prober errors.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Container, Pod, Probe } from '../../kube/api.js';
import { DockerletError, errorMessage, ErrorCodes, isCode } from '../../lib/errors.js';
import type { ContainerRuntime } from '../../runtime/types.js';
import { grpcProbe } from './grpc.js';
import type { ProbeResult } from './results.js';

/** User-Agent of upstream probes: kube-probe/<major>.<minor> of the kubelet we stand in for. */
export const PROBE_USER_AGENT = 'kube-probe/1.34';
/** Upstream keeps at most 10 KiB of a probe's body/output. */
export const MAX_PROBE_OUTPUT = 10 * 1024;
const MAX_REDIRECTS = 10;

export interface ProbeOutcome {
  result: ProbeResult;
  output: string;
  /** A success with a warning (redirect to another host not followed): event ProbeWarning. */
  warning?: boolean;
  /** The mechanism is not supported here: the caller logs it once and keeps the old result. */
  unsupported?: boolean;
}

export interface ProbeTarget {
  pod: Pod;
  container: Container;
  containerId: string;
  /** The pod's IP (the host IP for hostNetwork pods). */
  podIP?: string;
}

/** Runs one probe; never throws. */
export interface ProbeRunner {
  run(probe: Probe, target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome>;
}

export function createProbeRunner(deps: { runtime: Pick<ContainerRuntime, 'exec'> }): ProbeRunner {
  return {
    async run(probe, target, timeoutMs) {
      try {
        if (probe.exec) return await execProbe(deps.runtime, probe.exec.command ?? [], target.containerId, timeoutMs);
        if (probe.httpGet) {
          const port = resolvePort(probe.httpGet.port, target.container);
          const host = probe.httpGet.host || target.podIP;
          if (!host) return { result: 'unknown', output: 'pod has no IP address yet' };
          const scheme = probe.httpGet.scheme === 'HTTPS' ? 'https' : 'http';
          return await httpProbe(probeURL(scheme, host, port, probe.httpGet.path ?? ''), probe.httpGet.httpHeaders ?? [], timeoutMs);
        }
        if (probe.tcpSocket) {
          const port = resolvePort(probe.tcpSocket.port, target.container);
          const host = probe.tcpSocket.host || target.podIP;
          if (!host) return { result: 'unknown', output: 'pod has no IP address yet' };
          return await tcpProbe(host, port, timeoutMs);
        }
        const grpc = (probe as { grpc?: { port?: number; service?: string } }).grpc;
        if (grpc) {
          if (!target.podIP) return { result: 'unknown', output: 'pod has no IP address yet' };
          const port = resolvePort(grpc.port ?? 0, target.container);
          return await grpcProbe(target.podIP, port, grpc.service ?? '', timeoutMs, PROBE_USER_AGENT);
        }
        return { result: 'unknown', output: 'missing probe handler' };
      } catch (err) {
        return { result: 'unknown', output: errorMessage(err) };
      }
    },
  };
}

/** A port number, or a named port of the container (its containerPort), or a number in a string. */
export function resolvePort(port: number | string, container: Container): number {
  let n: number;
  if (typeof port === 'number') n = port;
  else {
    const named = (container.ports ?? []).find((p) => p.name === port);
    n = named ? named.containerPort : /^\d+$/.test(port) ? Number(port) : NaN;
    if (Number.isNaN(n)) throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `port ${port} not found`, { details: { port } });
  }
  if (!Number.isInteger(n) || n <= 0 || n >= 65536) throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `invalid port number: ${n}`, { details: { port } });
  return n;
}

/** upstream formatURL: the path may carry a query string; IPv6 hosts are bracketed. */
export function probeURL(scheme: 'http' | 'https', host: string, port: number, path: string): URL {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const base = new URL(`${scheme}://${h}:${port}`);
  const p = path === '' ? '/' : path.startsWith('/') ? path : `/${path}`;
  try {
    return new URL(p, base);
  } catch {
    return base;
  }
}

async function execProbe(runtime: Pick<ContainerRuntime, 'exec'>, command: string[], containerId: string, timeoutMs: number): Promise<ProbeOutcome> {
  if (!runtime.exec) return { result: 'unknown', output: 'the container runtime does not support exec' };
  if (command.length === 0) return { result: 'unknown', output: 'exec probe has no command' };
  try {
    const { exitCode, output } = await runtime.exec(containerId, command, { timeoutMs });
    return { result: exitCode === 0 ? 'success' : 'failure', output };
  } catch (err) {
    if (isCode(err, ErrorCodes.EXEC_TIMEOUT)) return { result: 'failure', output: errorMessage(err) };
    return { result: 'unknown', output: errorMessage(err) };
  }
}

/** Go's dial error text for the common socket errors, so events read as upstream's do. */
function dialError(addr: string, err: unknown): string {
  const code = (err as { code?: string }).code;
  const texts: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused',
    EHOSTUNREACH: 'connect: no route to host',
    ENETUNREACH: 'connect: network is unreachable',
    ECONNRESET: 'read: connection reset by peer',
    ETIMEDOUT: 'i/o timeout',
  };
  const text = code ? texts[code] : undefined;
  return text ? `dial tcp ${addr}: ${text}` : errorMessage(err);
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const addr = hostPort(host, port);
  return new Promise((resolve) => {
    const sock = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    const timer = setTimeout(() => finish({ result: 'failure', output: `dial tcp ${addr}: i/o timeout` }), timeoutMs);
    function finish(o: ProbeOutcome) {
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    }
    sock.once('connect', () => finish({ result: 'success', output: '' }));
    sock.once('error', (err) => finish({ result: 'failure', output: dialError(addr, err) }));
  });
}

interface HttpReply {
  status: number;
  location?: string;
  body: string;
}

function get(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'GET', headers, agent: false, rejectUnauthorized: false, signal }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (c: Buffer) => {
        if (size >= MAX_PROBE_OUTPUT) return;
        const part = c.subarray(0, MAX_PROBE_OUTPUT - size);
        chunks.push(part);
        size += part.length;
        if (size >= MAX_PROBE_OUTPUT) {
          done();
          res.destroy();
        }
      });
      res.once('end', done);
      res.once('error', reject);
      res.once('close', () => (res.complete ? done() : reject(new DockerletError(ErrorCodes.PROBE, 'response body not complete'))));
    });
    req.once('error', reject);
    req.end();
  });
}

function probeHeaders(list: { name: string; value: string }[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list) headers[h.name.toLowerCase()] = h.value;
  headers['user-agent'] ??= PROBE_USER_AGENT;
  if (!('accept' in headers)) headers.accept = '*/*';
  else if (headers.accept === '') delete headers.accept;
  headers.connection = 'close';
  return headers;
}

/** GET url; 200–399 is success; redirects are followed (≤10) only while they stay on the same host. */
export async function httpProbe(url: URL, headerList: { name: string; value: string }[], timeoutMs: number): Promise<ProbeOutcome> {
  const headers = probeHeaders(headerList);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let current = url;
  try {
    for (let hops = 0; ; hops++) {
      const reply = await get(current, headers, abort.signal);
      const redirect = reply.status >= 300 && reply.status < 400 && reply.location ? new URL(reply.location, current) : undefined;
      if (redirect && redirect.hostname === url.hostname && (redirect.protocol === 'http:' || redirect.protocol === 'https:')) {
        if (hops + 1 > MAX_REDIRECTS) return { result: 'failure', output: `Get "${redirect.toString()}": stopped after ${MAX_REDIRECTS} redirects` };
        current = redirect;
        continue;
      }
      if (reply.status >= 200 && reply.status < 400) {
        if (reply.status >= 300) return { result: 'success', output: `Probe terminated redirects, Response body: ${reply.body}`, warning: true };
        return { result: 'success', output: reply.body };
      }
      return { result: 'failure', output: `HTTP probe failed with statuscode: ${reply.status}` };
    }
  } catch (err) {
    const what = abort.signal.aborted
      ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
      : dialError(hostPort(current.hostname, Number(current.port) || (current.protocol === 'https:' ? 443 : 80)), err);
    return { result: 'failure', output: `Get "${current.toString()}": ${what}` };
  } finally {
    clearTimeout(timer);
  }
}
