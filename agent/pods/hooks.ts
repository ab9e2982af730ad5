// Container lifecycle hooks as the upstream kubelet runs them (pkg/kubelet/lifecycle/handlers.go):
// exec (in the container; a non-zero exit fails), httpGet (from the node; host defaults to the pod
// IP, named ports resolve against the container's ports, HTTPS without certificate verification,
// User-Agent kube-lifecycle/<version>; any HTTP answer counts as done) and sleep. Failure messages are
// upstream's, so the FailedPostStartHook / FailedPreStopHook Events read the same.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Container, LifecycleHandler, Pod } from '../../kube/api.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import type { ContainerRuntime } from '../../runtime/types.js';
import { probeURL, resolvePort } from '../prober/probe.js';

export const LIFECYCLE_USER_AGENT = 'kube-lifecycle/1.34';

export interface HookTarget {
  pod: Pod;
  container: Container;
  containerId: string;
  /** The pod's IP (the node's for hostNetwork pods): default host of httpGet hooks. */
  podIP?: string;
}

export interface HookOptions {
  /** The hook is given up (treated as done) when this fires: the grace period ran out or was cut. */
  signal?: AbortSignal;
  /** Upper bound for exec/http hooks (ms). */
  timeoutMs: number;
}

/** upstream format.Pod: name_namespace(uid). */
export function podDesc(pod: Pod): string {
  return `${pod.metadata.name}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid ?? ''})`;
}

/** Go's %v of a []string. */
function goSlice(a: readonly string[] | undefined): string {
  return `[${(a ?? []).join(' ')}]`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One HTTP(S) GET; resolves on any response (the body is drained), rejects on connection errors. */
export function hookGet(url: URL, headers: { name: string; value: string }[], timeoutMs: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { 'User-Agent': LIFECYCLE_USER_AGENT, Accept: '*/*' };
    let hostHeader: string | undefined;
    for (const { name, value } of headers) {
      if (name.toLowerCase() === 'host') hostHeader = value;
      else h[name] = value;
    }
    if (hostHeader) h.Host = hostHeader;
    // No connection reuse (upstream's hook and probe clients disable keep-alive); no certificate checks.
    h.Connection = 'close';
    const opts = { method: 'GET', headers: h, timeout: timeoutMs, signal, rejectUnauthorized: false, agent: false as const };
    const req = url.protocol === 'https:' ? httpsRequest(url, opts) : httpRequest(url, opts);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new DockerletError(ErrorCodes.TIMEOUT, `request timed out after ${timeoutMs} ms`, { details: { url: url.href } })));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Runs a hook; resolves undefined on success or the upstream failure message. An aborted signal ends
 * it early without an error (the caller knows it cut the hook short). Never throws.
 */
export async function runHook(runtime: Pick<ContainerRuntime, 'exec'>, handler: LifecycleHandler, t: HookTarget, opts: HookOptions): Promise<string | undefined> {
  const who = `for Container ${JSON.stringify(t.container.name)} in Pod ${JSON.stringify(podDesc(t.pod))}`;
  if (handler.exec) {
    const cmd = handler.exec.command ?? [];
    let error: string;
    let output = '';
    try {
      if (!runtime.exec) throw new DockerletError(ErrorCodes.RUNTIME, 'the container runtime does not support exec');
      const aborted = new Promise<undefined>((resolve) => opts.signal?.addEventListener('abort', () => resolve(undefined), { once: true }));
      const r = await Promise.race([runtime.exec(t.containerId, cmd, { timeoutMs: opts.timeoutMs }), aborted]);
      if (!r || r.exitCode === 0) return undefined;
      output = r.output;
      error = `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${r.output}`;
    } catch (err) {
      if (opts.signal?.aborted) return undefined;
      error = errorMessage(err);
    }
    return `Exec lifecycle hook (${goSlice(cmd)}) ${who} failed - error: ${error}, message: ${JSON.stringify(output)}`;
  }
  if (handler.httpGet) {
    const g = handler.httpGet;
    try {
      const host = g.host || t.podIP;
      if (!host) throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, 'the pod has no IP address yet');
      const url = probeURL(g.scheme === 'HTTPS' ? 'https' : 'http', host, resolvePort(g.port, t.container), g.path ?? '');
      await hookGet(url, g.httpHeaders ?? [], opts.timeoutMs, opts.signal);
      return undefined;
    } catch (err) {
      if (opts.signal?.aborted) return undefined;
      return `HTTP lifecycle hook (${g.path ?? ''}) ${who} failed - error: ${errorMessage(err)}`;
    }
  }
  if (handler.sleep) {
    await sleep((handler.sleep.seconds ?? 0) * 1000, opts.signal);
    return undefined;
  }
  if (handler.tcpSocket) return `TCPSocket lifecycle hook ${who} failed - error: tcpSocket is deprecated and not supported as a lifecycle handler`;
  return `Lifecycle hook ${who} failed - error: no handler given`;
}
