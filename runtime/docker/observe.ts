// Pure mapping of Docker list/inspect results to ObservedContainer, and the change key that lets
// listManaged skip re-inspecting containers whose state did not move.
import type Dockerode from 'dockerode';
import { annotationsFromLabels, identityFromLabels, Labels, parseDockerName } from '../naming.js';
import type { ObservedContainer } from '../types.js';

/** Docker's zero time, reported for containers that never started/finished. */
const ZERO_TIME_PREFIX = '0001-01-01';

/** RFC 3339 (millisecond precision, UTC) or undefined for Docker's zero time / garbage. */
export function dockerTime(s: string | undefined): string | undefined {
  if (!s || s.startsWith(ZERO_TIME_PREFIX)) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * The list Status without its relative-time part: "Up 5 seconds" → "Up",
 * "Exited (137) 2 minutes ago" → "Exited (137)". The time text changes every second on its own;
 * what matters is the state and exit code.
 */
export function normalizeStatus(status: string): string {
  return status
    .replace(/\b(Less than a second|About an? \w+|\d+ \w+)( ago)?/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Changes whenever a listed container needs a fresh inspect. */
export function changeKey(c: Pick<Dockerode.ContainerInfo, 'State' | 'Status'>): string {
  return `${c.State}|${normalizeStatus(c.Status ?? '')}`;
}

/**
 * The change key a list would show for an inspected container, for the states whose list Status text
 * follows from the inspect alone (running without a health check or pause, exited); else undefined.
 */
export function changeKeyOfInspect(info: Pick<Dockerode.ContainerInspectInfo, 'State'>): string | undefined {
  const st = info.State;
  if (!st) return undefined;
  if (st.Status === 'running' && !st.Paused && !st.Restarting && !st.Health) return changeKey({ State: 'running', Status: 'Up' });
  if (st.Status === 'exited') return changeKey({ State: 'exited', Status: `Exited (${st.ExitCode})` });
  return undefined;
}

/** dockershim's image ref: `docker-pullable://<repo digest>` when one exists, else `docker://<image id>`. */
export function imageRefFor(imageId: string, repoDigests: string[] | undefined): string {
  const digest = repoDigests?.[0];
  return digest ? `docker-pullable://${digest}` : `docker://${imageId}`;
}

export function mapState(status: string | undefined): ObservedContainer['state'] {
  switch (status) {
    case 'created':
      return 'created';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    case 'exited':
      return 'exited';
    case 'dead':
      return 'dead';
    default:
      return 'unknown';
  }
}

/** The pod-network IP of a container: the bridge network's address (none on the host network). */
export function containerIp(info: Dockerode.ContainerInspectInfo): string | undefined {
  const ns = info.NetworkSettings;
  const bridge = ns?.Networks?.bridge?.IPAddress;
  if (bridge) return bridge;
  const legacy = (ns as { IPAddress?: string } | undefined)?.IPAddress;
  if (legacy) return legacy;
  for (const n of Object.values(ns?.Networks ?? {})) if (n?.IPAddress) return n.IPAddress;
  return undefined;
}

/** Maps an inspect result; undefined when the labels (and name) do not identify a pod container. */
export function toObserved(info: Dockerode.ContainerInspectInfo, imageRef: string): ObservedContainer | undefined {
  const name = info.Name.replace(/^\//, '');
  const labels = info.Config?.Labels ?? {};
  const identity = identityFromLabels(labels, parseDockerName(name));
  if (!identity) return undefined;
  const state = mapState(info.State?.Status);
  const terminated = state === 'exited' || state === 'dead';
  const out: ObservedContainer = {
    ...identity,
    id: info.Id,
    dockerName: name,
    state,
    image: info.Config?.Image ?? '',
    imageRef,
    createdAt: dockerTime(info.Created) ?? info.Created,
    annotations: annotationsFromLabels(labels),
  };
  const startedAt = dockerTime(info.State?.StartedAt);
  if (startedAt) out.startedAt = startedAt;
  let finishedAt = terminated ? dockerTime(info.State?.FinishedAt) : undefined;
  // Docker stamps StartedAt after the process began, so a short-lived container can "finish" first.
  if (finishedAt && startedAt && finishedAt < startedAt) finishedAt = startedAt;
  if (finishedAt) out.finishedAt = finishedAt;
  if (terminated) out.exitCode = info.State?.ExitCode ?? 0;
  if (info.State?.OOMKilled) out.oomKilled = true;
  if (info.State?.Error) out.error = info.State.Error;
  if (identity.kind === 'sandbox') {
    const ip = containerIp(info);
    if (ip) out.ip = ip;
  }
  if (info.State?.Pid && info.State.Pid > 0) out.pid = info.State.Pid;
  const sandboxId = labels[Labels.sandboxId];
  if (sandboxId) out.sandboxId = sandboxId;
  return out;
}
