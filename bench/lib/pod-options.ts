// Command-line options of `npm run bench -- pod-startup`, validated once and frozen. --quick is the
// short run for engineers measuring a change (1 paired trial, 5 single pods, no 250-pod run, 15 s
// idle window, result written outside bench/results unless --out says otherwise).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';

/**
 * The node flags the agent ships with: the NODE_OPTIONS of systemd/dockerlet.service (the Dockerfile
 * sets the same), so the bench measures the agent as operators run it. --agent-node-flags replaces them
 * (--agent-node-flags= for none).
 */
export function shippedNodeFlags(repo: string): string[] {
  const unit = readFileSync(join(repo, 'systemd/dockerlet.service'), 'utf8');
  const m = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit);
  return m ? m[1]!.replace(/^"|"$/g, '').split(' ').filter(Boolean) : [];
}

export const USAGE = `npm run bench -- pod-startup [--quick] [--cpu-prof DIR] [--profile-phases DIR] [--trials 5] [--pods 20] [--warmup 1]
  [--density 100] [--big 250] [--big-from FILE] [--idle-seconds 60] [--baseline-parallelism N] [--max-pods N] [--pod-workers N] [--runtime-parallelism N]
  [--direct-docker] [--baseline-direct] [--direct-ref] [--compiled] [--agent-repo DIR] [--agent-node-flags=FLAGS (default: the systemd unit's NODE_OPTIONS)] [--skip-baseline]
  [--baseline-load kubelet|decoy|none (default kubelet: raw Docker runs while the control plane schedules as many decoy pods and
   a decoy kubelet replays the kubelet's writes for them, see pod-decoy-kubelet.ts; each trial also runs raw Docker with the
   scheduling load only and with the control plane idle. decoy: the scheduling load (and idle) only. none: idle only)]
  [--control-plane-nice 19] [--colocated-trials 2] [--out FILE]`;

export interface Options {
  quick: boolean;
  /** Single pods measured one after another (after `warmup` unmeasured ones). */
  pods: number;
  warmup: number;
  /** Pods per density run (the Deployment is scaled 0 → density). */
  density: number;
  /** Paired trials (agent run + raw-Docker run; 0 skips phase (b)) + raw-Docker run at the same parallelism, order shuffled per trial). */
  trials: number;
  /** Unpaired density runs before the trials (the first measures idle CPU and the agent's Docker parallelism). */
  densityWarmup: number;
  /** The large run (scale 0 → big, then idle); 0 skips it. */
  big: number;
  /** Take the big run's figures from this earlier result file (a --trials 0 --pods 0 run), noted as such. */
  bigFrom?: string;
  /** Idle window after a density run and after the big run (agent CPU and RSS), seconds; 0 skips. */
  idleSeconds: number;
  /** Raw-Docker baseline parallelism; default the agent's mean create/start calls in flight in its first run. */
  baselineParallelism?: number;
  /** The agent's maxPods (its default 110 would refuse the big run). */
  maxPods: number;
  podWorkers?: number;
  /** The agent's runtimeParallelism (its adaptive create/start limit's ceiling). */
  runtimeParallelism?: number;
  directDocker: boolean;
  /** The raw-Docker baseline talks to dockerd directly even when the agent goes through the pass-through. */
  baselineDirect: boolean;
  /** One extra raw-Docker run straight to dockerd (the pass-through's own cost). */
  directRef: boolean;
  /** Run the agent under node --cpu-prof, profiles written to this directory (kept). */
  cpuProfDir?: string;
  /** CPU profiles of the agent per phase (first 100-pod start + idle window, the big run) through its inspector. */
  profilePhasesDir?: string;
  compiled: boolean;
  agentRepo: string;
  skipBaseline: boolean;
  /**
   * kubelet: the ratio's raw-Docker run has the control plane do an agent run's work (decoy pods scheduled,
   * bench/lib/pod-decoy.ts, and a kubelet's writes for them replayed, bench/lib/pod-decoy-kubelet.ts); each
   * trial also runs raw Docker with the scheduling load only and idle. decoy: the scheduling load, and
   * idle. none: idle only.
   */
  baselineLoad: 'kubelet' | 'decoy' | 'none';
  /** The control plane's nice value during the paired trials (a real node does not host it); 0 leaves it as is. */
  controlPlaneNice: number;
  /** Extra paired trials with the control plane at normal priority (co-located, as this host runs it). */
  colocatedTrials: number;
  agentNodeFlags: string[];
  out: string;
}

export function parseOptions(args: string[], repo: string): Readonly<Options> {
  const { values: v } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean' }, pods: { type: 'string' }, warmup: { type: 'string' }, density: { type: 'string' },
      trials: { type: 'string' }, 'density-warmup': { type: 'string' }, big: { type: 'string' }, 'idle-seconds': { type: 'string' }, 'big-from': { type: 'string' },
      'baseline-parallelism': { type: 'string' }, 'max-pods': { type: 'string' }, 'pod-workers': { type: 'string' }, 'runtime-parallelism': { type: 'string' },
      'direct-docker': { type: 'boolean' }, 'baseline-direct': { type: 'boolean' }, 'direct-ref': { type: 'boolean' }, 'cpu-prof': { type: 'string' }, 'profile-phases': { type: 'string' }, compiled: { type: 'boolean' },
      'agent-repo': { type: 'string' }, 'skip-baseline': { type: 'boolean' }, 'baseline-load': { type: 'string' }, 'control-plane-nice': { type: 'string' }, 'colocated-trials': { type: 'string' }, 'agent-node-flags': { type: 'string' }, out: { type: 'string' },
    },
  });
  const quick = v.quick ?? false;
  const int = (name: string, s: string | undefined, d: number, min: number, max: number) => {
    const n = s === undefined ? d : Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in [${min}, ${max}], got ${s}\nusage: ${USAGE}`);
    return n;
  };
  const oneOf = <T extends string>(name: string, s: string | undefined, allowed: readonly T[], d: T): T => {
    if (s === undefined) return d;
    if (!(allowed as readonly string[]).includes(s)) throw new Error(`--${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
    return s as T;
  };
  const big = int('big', v.big, quick ? 0 : 250, 0, 400);
  const density = int('density', v.density, 100, 1, 300);
  return Object.freeze({
    quick,
    pods: int('pods', v.pods, quick ? 5 : 20, 0, 200),
    warmup: int('warmup', v.warmup, 1, 0, 10),
    density,
    trials: int('trials', v.trials, quick ? 1 : 5, 0, 20),
    densityWarmup: int('density-warmup', v['density-warmup'], quick ? 0 : 1, 0, 3),
    big,
    ...(v['big-from'] !== undefined ? { bigFrom: v['big-from'] } : {}),
    idleSeconds: int('idle-seconds', v['idle-seconds'], quick ? 15 : 60, 0, 600),
    ...(v['baseline-parallelism'] !== undefined ? { baselineParallelism: int('baseline-parallelism', v['baseline-parallelism'], 12, 1, 300) } : {}),
    maxPods: int('max-pods', v['max-pods'], Math.max(110, big + 10, density + 10), 1, 1000),
    ...(v['pod-workers'] !== undefined ? { podWorkers: int('pod-workers', v['pod-workers'], 1024, 1, 4096) } : {}),
    ...(v['runtime-parallelism'] !== undefined ? { runtimeParallelism: int('runtime-parallelism', v['runtime-parallelism'], 12, 1, 256) } : {}),
    directDocker: v['direct-docker'] ?? false,
    baselineDirect: v['baseline-direct'] ?? false,
    directRef: v['direct-ref'] ?? false,
    ...(v['cpu-prof'] !== undefined ? { cpuProfDir: v['cpu-prof'] } : {}),
    ...(v['profile-phases'] !== undefined ? { profilePhasesDir: v['profile-phases'] } : {}),
    compiled: v.compiled ?? false,
    agentRepo: v['agent-repo'] ?? repo,
    skipBaseline: v['skip-baseline'] ?? false,
    baselineLoad: oneOf('baseline-load', v['baseline-load'], ['kubelet', 'decoy', 'none'] as const, 'kubelet'),
    controlPlaneNice: int('control-plane-nice', v['control-plane-nice'], 19, 0, 19),
    colocatedTrials: int('colocated-trials', v['colocated-trials'], quick ? 0 : 2, 0, 20),
    agentNodeFlags: v['agent-node-flags'] !== undefined ? v['agent-node-flags'].split(' ').filter(Boolean) : shippedNodeFlags(v['agent-repo'] ?? repo),
    out: v.out ?? (quick ? join(tmpdir(), 'dockerlet-bench', 'pod-startup-quick.json') : join(repo, 'bench/results/pod-startup.json')),
  });
}
