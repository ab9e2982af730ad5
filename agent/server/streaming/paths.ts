// The kubelet's streaming paths and their query options (pkg/kubelet/server/server.go: /exec, /attach
// and /run as /{verb}/{podNamespace}/{podID}[/{uid}]/{containerName}, /portForward/{podNamespace}/
// {podID}[/{uid}]; remotecommand NewOptions: input/output/error/tty = "1", command repeated, a TTY
// drops stderr, at least one stream required).
import type { StreamOptions } from '../../../runtime/streams.js';

export type StreamingVerb = 'exec' | 'attach' | 'run' | 'portForward';

export interface StreamingPath {
  verb: StreamingVerb;
  namespace: string;
  pod: string;
  uid?: string;
  /** Absent for portForward. */
  container?: string;
}

const VERBS: readonly StreamingVerb[] = ['exec', 'attach', 'run', 'portForward'];

/** Parses a request path; undefined when it is not a streaming path, an Error text when malformed. */
export function parseStreamingPath(pathname: string): StreamingPath | string | undefined {
  const raw = pathname.split('/');
  if (raw[0] !== '') return undefined;
  const verb = raw[1] as StreamingVerb;
  if (!VERBS.includes(verb)) return undefined;
  let parts: string[];
  try {
    parts = raw.slice(2).map((p) => decodeURIComponent(p));
  } catch {
    return 'malformed path encoding';
  }
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('/') || p.includes('\0'))) return `invalid path ${JSON.stringify(pathname)}`;
  if (verb === 'portForward') {
    if (parts.length !== 2 && parts.length !== 3) return `invalid path ${JSON.stringify(pathname)}`;
    return { verb, namespace: parts[0]!, pod: parts[1]!, ...(parts[2] ? { uid: parts[2] } : {}) };
  }
  if (parts.length !== 3 && parts.length !== 4) return `invalid path ${JSON.stringify(pathname)}`;
  const container = parts[parts.length - 1]!;
  return { verb, namespace: parts[0]!, pod: parts[1]!, ...(parts.length === 4 ? { uid: parts[2]! } : {}), container };
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === '1' || v === 'true';
}

/** Stream options and command of an exec/attach request, or an Error text (→ 400). */
export function parseCommandQuery(q: URLSearchParams, verb: 'exec' | 'attach'): { opts: StreamOptions; cmd: string[] } | string {
  const tty = flag(q, 'tty');
  const opts: StreamOptions = { stdin: flag(q, 'input'), stdout: flag(q, 'output'), stderr: flag(q, 'error') && !tty, tty };
  if (!opts.stdin && !opts.stdout && !flag(q, 'error')) return 'you must specify at least 1 of stdin, stdout, stderr';
  const cmd = q.getAll('command');
  if (verb === 'exec' && cmd.length === 0) return 'you must specify a command';
  return { opts, cmd };
}

/** The ports of a WebSocket port-forward request (?port=80&port=443 or ?port=80,443). */
export function parsePortsQuery(q: URLSearchParams): number[] | string {
  const values = q.getAll('port').flatMap((v) => v.split(','));
  if (values.length === 0) return 'query parameter "port" is required';
  const ports: number[] = [];
  for (const v of values) {
    const s = v.trim();
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 0xffff) return `unable to parse "${s}" as a port`;
    ports.push(Number(s));
  }
  return ports;
}
