// The per-pod split of a density run's startup time into the control plane's part (ReplicaSet
// creation, scheduling, the watch reaching the agent), the agent's own part and Docker's part (the
// pod's create/start calls, timed at the bench's Docker pass-through), so the agent/raw-Docker ratio
// shows where the rest goes. Pure: inputs are epoch-ms timestamps per pod.
import type { PodCallTimes } from './pod-docker-filter.js';
import { dist, overlap, round, type Dist } from './pod-timeline.js';
import type { PodTimes } from './pod-watch.js';

export const SPLIT_STAGES = [
  'controller: scale→pod created (seen)',
  'scheduler: created→bound (seen)',
  'apiserver: bound→agent saw it',
  'agent: saw it→first Docker call',
  'docker: create/start calls',
  'agent: between Docker calls',
  'agent: last start→Running seen',
  'agent total (3 agent stages)',
  'node total: bound→Running seen',
  'pod total: scale→Running seen',
] as const;

export type SplitStage = (typeof SPLIT_STAGES)[number];

/** Stage durations (ms) of one pod; NaN where a timestamp is missing. */
export function podSplit(t0: number, w: PodTimes, agentSeenMs: number | undefined, c: PodCallTimes | undefined): Record<SplitStage, number> {
  const d = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? b - a : NaN);
  const seenToCall = d(agentSeenMs, c?.firstCallMs);
  const between = c ? c.lastCallEndMs - c.firstCallMs - c.inCallMs : NaN;
  const tail = d(c?.lastCallEndMs, w.runningSeenMs);
  return {
    'controller: scale→pod created (seen)': d(t0, w.firstSeenMs),
    'scheduler: created→bound (seen)': d(w.firstSeenMs, w.scheduledSeenMs),
    'apiserver: bound→agent saw it': d(w.scheduledSeenMs, agentSeenMs),
    'agent: saw it→first Docker call': seenToCall,
    'docker: create/start calls': c ? c.inCallMs : NaN,
    'agent: between Docker calls': between,
    'agent: last start→Running seen': tail,
    'agent total (3 agent stages)': seenToCall + between + tail,
    'node total: bound→Running seen': d(w.scheduledSeenMs, w.runningSeenMs),
    'pod total: scale→Running seen': d(t0, w.runningSeenMs),
  };
}

export interface SplitInput {
  t0: number;
  pods: PodTimes[];
  agentSeen: Map<string, number>;
  calls: Map<string, PodCallTimes>;
}

export type SplitLists = Record<SplitStage, number[]>;

export function splitLists(inputs: SplitInput[]): SplitLists {
  const out = Object.fromEntries(SPLIT_STAGES.map((k) => [k, [] as number[]])) as SplitLists;
  for (const inp of inputs) {
    for (const p of inp.pods) {
      const s = podSplit(inp.t0, p, inp.agentSeen.get(p.uid), inp.calls.get(p.uid));
      for (const k of SPLIT_STAGES) out[k].push(s[k]);
    }
  }
  return out;
}

/** Median and p90 (s) per stage, over every pod of the given runs. */
export function splitSummary(lists: SplitLists): Record<SplitStage, Pick<Dist, 'p50' | 'p90' | 'mean' | 'n'>> {
  return Object.fromEntries(SPLIT_STAGES.map((k) => {
    const { p50, p90, mean, n } = dist(lists[k]);
    return [k, { p50, p90, mean, n }];
  })) as Record<SplitStage, Pick<Dist, 'p50' | 'p90' | 'mean' | 'n'>>;
}

/** Run-level milestones (s from the scale request) and Docker's busy wall time. */
export interface WallSplit {
  lastPodCreatedS: number;
  lastBoundS: number;
  lastAgentSeenS: number;
  firstDockerCallS: number;
  lastDockerCallEndS: number;
  allRunningS: number;
  /** Pods between their first create call and the end of their last start call: most at once, time-weighted mean. */
  podsInDockerPhase: { max: number; mean: number };
}

export function wallSplit(inp: SplitInput, allRunningMs: number): WallSplit {
  const s = (x: number) => round((x - inp.t0) / 1000);
  const fin = (xs: number[]) => xs.filter(Number.isFinite);
  const max = (xs: number[]) => Math.max(...fin(xs));
  const calls = [...inp.calls.values()].filter((c) => inp.pods.some((p) => p.uid === c.uid));
  const seen = inp.pods.map((p) => inp.agentSeen.get(p.uid) ?? NaN);
  const ov = overlap(calls.map((c) => [c.firstCallMs, c.lastCallEndMs]));
  return {
    lastPodCreatedS: s(max(inp.pods.map((p) => p.firstSeenMs))),
    lastBoundS: s(max(inp.pods.map((p) => p.scheduledSeenMs ?? NaN))),
    lastAgentSeenS: s(max(seen)),
    firstDockerCallS: s(Math.min(...fin(calls.map((c) => c.firstCallMs)))),
    lastDockerCallEndS: s(max(calls.map((c) => c.lastCallEndMs))),
    allRunningS: s(allRunningMs),
    podsInDockerPhase: { max: ov.max, mean: round(ov.mean, 1) },
  };
}
