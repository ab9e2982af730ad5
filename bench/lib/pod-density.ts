// Phase (b) of the pod-startup bench: density runs of N pods — an optional warm-up run (idle window,
// the agent's Docker parallelism for the baseline), the paired trials (agent vs raw Docker at that
// parallelism, order shuffled), the per-pod split and the figures: density_N_s, raw_docker_N_s, the
// median ratio with its spread, agent RSS/CPU while starting and idle, apiserver requests per pod.
import type Dockerode from 'dockerode';
import type { Options } from './pod-options.js';
import { splitLists, splitSummary } from './pod-split.js';
import { printStages } from './pod-report.js';
import { agentParallelism, agentRun, baselineRun, pairedTrials, spread, usable, type AgentRun, type TrialCtx } from './pod-trials.js';
import { setNice } from './pod-nice.js';
import { round } from './pod-timeline.js';

/** A run's fields worth keeping in the JSON (the per-pod inputs are summarised, not stored). */
export function runDetails(r: AgentRun): Omit<AgentRun, 'split'> & { split: ReturnType<typeof splitSummary> } {
  const { split, ...rest } = r;
  return { ...rest, split: splitSummary(splitLists([split])) };
}

export interface DensityPhase {
  figures: Record<string, number>;
  ratios: Record<string, number>;
  details: Record<string, unknown>;
  notes: string[];
  /** Every agent run of the phase (warm-ups first). */
  runs: AgentRun[];
}

export async function densityPhase(tctx: TrialCtx, opts: Readonly<Options>, docker: Dockerode, log: (m: string) => void): Promise<DensityPhase> {
  const N = opts.density;
  const figures: Record<string, number> = {};
  const ratios: Record<string, number> = {};
  const notes: string[] = [];
  const warmups: AgentRun[] = [];
  const cpPids = tctx.controlPlanePids;
  if (opts.controlPlaneNice > 0) log(`control plane (pids ${cpPids.join(', ')}) at nice ${opts.controlPlaneNice}: ${JSON.stringify(setNice(cpPids, opts.controlPlaneNice))}`);
  for (let i = 0; i < opts.densityWarmup; i++) {
    log(`(b) warm-up density run ${i + 1}/${opts.densityWarmup}: scale 0 → ${N}${i === 0 && opts.idleSeconds ? `, then ${opts.idleSeconds} s idle` : ''}`);
    warmups.push(await agentRun(tctx, N, i === 0 ? { ...(opts.idleSeconds ? { idleSeconds: opts.idleSeconds } : {}), profile: true } : {}));
  }
  const parallelism = opts.baselineParallelism ?? (warmups[0] ? agentParallelism(warmups[0]) : undefined);
  log(`(b) ${opts.trials} paired trials of ${N} pods (agent, raw Docker at ${parallelism ?? 'the agent\'s measured parallelism'}; order shuffled)`);
  const tr = await pairedTrials(tctx, { n: N, trials: opts.trials, ...(parallelism !== undefined ? { parallelism } : {}), ...(warmups.length === 0 && opts.idleSeconds ? { firstIdleSeconds: opts.idleSeconds } : {}), skipBaseline: opts.skipBaseline });
  if (parallelism !== undefined && !opts.baselineParallelism) tr.parallelismSource = `the agent's mean create/start calls in flight in the warm-up run (${warmups[0]!.dockerCalls?.meanMutatingInFlight.toFixed(1)})`;
  // The same trials with the control plane at normal priority, competing with dockerd as it does on this host.
  let colocated: Awaited<ReturnType<typeof pairedTrials>> | undefined;
  if (opts.controlPlaneNice > 0 && opts.colocatedTrials > 0 && !opts.skipBaseline) {
    log(`(b') ${opts.colocatedTrials} paired trials with the control plane back at nice 0 (${JSON.stringify(setNice(cpPids, 0))})`);
    colocated = await pairedTrials(tctx, { n: N, trials: opts.colocatedTrials, parallelism: tr.parallelism, skipBaseline: false });
  }
  const idleRun = [...warmups, ...tr.agentRuns].find((r) => r.idle);
  const runs100 = tr.agentRuns;
  const agentS = spread(runs100.map((r) => r.density.seconds));
  const dockerS = spread(tr.baselines.filter(usable).map((b) => b.seconds));
  const ratioS = spread(tr.trials.map((t) => t.ratio));
  /** Against raw Docker with the scheduling load only (trials with the decoy kubelet only). */
  const schedS = spread(tr.trials.map((t) => t.ratioSched ?? NaN));
  /** Against raw Docker with the control plane idle (trials with a decoy only). */
  const idleS = spread(tr.trials.map((t) => t.ratioIdle ?? NaN));
  figures[`density_${N}_s`] = agentS.median;
  if (!opts.skipBaseline) {
    figures[`raw_docker_${N}_s`] = dockerS.median;
    ratios[`density_${N}_vs_raw_docker`] = ratioS.median;
    ratios[`density_${N}_vs_raw_docker_min`] = ratioS.min;
    ratios[`density_${N}_vs_raw_docker_max`] = ratioS.max;
    if (schedS.n) {
      figures[`raw_docker_${N}_scheduling_load_s`] = spread(tr.schedBaselines.filter(usable).map((b) => b.seconds)).median;
      ratios[`density_${N}_vs_raw_docker_scheduling_load`] = schedS.median;
      ratios[`density_${N}_vs_raw_docker_scheduling_load_min`] = schedS.min;
      ratios[`density_${N}_vs_raw_docker_scheduling_load_max`] = schedS.max;
    }
    if (idleS.n) {
      figures[`raw_docker_${N}_control_plane_idle_s`] = spread(tr.idleBaselines.filter(usable).map((b) => b.seconds)).median;
      ratios[`density_${N}_vs_raw_docker_control_plane_idle`] = idleS.median;
      ratios[`density_${N}_vs_raw_docker_control_plane_idle_min`] = idleS.min;
      ratios[`density_${N}_vs_raw_docker_control_plane_idle_max`] = idleS.max;
    }
    if (colocated) {
      const c = spread(colocated.trials.map((t) => t.ratio));
      ratios[`density_${N}_vs_raw_docker_colocated`] = c.median;
      ratios[`density_${N}_vs_raw_docker_colocated_min`] = c.min;
      ratios[`density_${N}_vs_raw_docker_colocated_max`] = c.max;
    }
  }
  figures[`agent_peak_rss_${N}_mib`] = Math.max(...[...warmups, ...runs100].map((r) => r.usage.peakRssMiB));
  figures[`agent_cpu_${N}_start_s`] = spread(runs100.map((r) => r.usage.cpuSeconds)).median;
  if (idleRun?.idle) {
    figures[`agent_rss_${N}_idle_mib`] = idleRun.idle.rssMiBEnd;
    figures[`idle_cpu_${N}_pct_core`] = idleRun.idle.pctCore;
  }
  // apiserver requests per pod during the runs (every client: the scheduler and the ReplicaSet controller write events too).
  const perPod = (keys: string[]) => spread(runs100.map((r) => keys.reduce((acc, k) => acc + (r.apiRequests[k] ?? 0), 0) / N)).median;
  figures.status_patches_per_pod = perPod(['PATCH pods/status']);
  figures.event_writes_per_pod = perPod(['POST events', 'PATCH events']);
  figures.token_requests_per_pod = perPod(['POST serviceaccounts/token']);
  figures.configmap_gets_per_pod = perPod(['GET configmaps']);
  const split = splitSummary(splitLists(runs100.map((r) => r.split)));
  printStages(`(b) per-pod split over ${runs100.length} run(s) of ${N} pods (s: p50, p90, mean, n)`, split);
  printStages('(b) trials', Object.fromEntries(tr.trials.map((t) => [`trial ${t.trial} (${t.order.join(' then ')})`, { agentS: t.agentS, dockerS: t.dockerS, ratio: t.ratio, ...(t.dockerSchedS !== undefined ? { dockerSchedS: t.dockerSchedS, ratioSched: t.ratioSched } : {}), ...(t.dockerIdleS !== undefined ? { dockerIdleS: t.dockerIdleS, ratioIdle: t.ratioIdle } : {}) }])));
  const details: Record<string, unknown> = {
    trials: tr.trials, ratio: ratioS, agentSeconds: agentS, rawDockerSeconds: dockerS, baselineParallelism: tr.parallelism, baselineParallelismSource: tr.parallelismSource,
    split, seenSource: runs100[0]?.seenSource, runs: runs100.map(runDetails), warmups: warmups.map(runDetails), baselines: tr.baselines, schedBaselines: tr.schedBaselines, idleBaselines: tr.idleBaselines,
    rawDockerPerPodDocker: tr.baselines.map((b) => b.perPodDocker),
    controlPlaneNice: opts.controlPlaneNice,
    ...(colocated ? { colocated: { trials: colocated.trials, runs: colocated.agentRuns.map(runDetails), baselines: colocated.baselines } } : {}),
  };

  if (opts.directRef && !opts.skipBaseline && tctx.baselineDocker !== docker) {
    // Against the runs made with the same (no) control-plane load, so only the pass-through differs.
    const ref = await baselineRun({ ...tctx, baselineDocker: docker }, N, tr.parallelism, 'direct', 'idle');
    details.rawDockerDirectReference = ref;
    const through = spread((tr.idleBaselines.length ? tr.idleBaselines : tr.baselines).filter(usable).map((b) => b.seconds)).median;
    notes.push(`the pass-through's own cost: one raw-Docker run straight to dockerd at the same parallelism, control plane idle, took ${ref.seconds} s vs the median ${through} s through it${tr.idleBaselines.length ? ' (control plane idle too)' : ''}`);
  }
  if (opts.controlPlaneNice > 0) {
    notes.push(`(b) the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) ran at nice ${opts.controlPlaneNice} (each in a session of its own, its autogroup and threads at that nice: this kernel shares CPU between sessions first) during the warm-up and the ${tr.trials.length} trials: on a real node it runs on other machines, while here a 100-pod start keeps both cores busy and its CPU (details.density.runs[].cpuSeconds) would lengthen the agent's run only; the agent, dockerd, containerd and the bench ran at normal priority`);
    if (colocated) {
      const c = spread(colocated.trials.map((t) => t.ratio));
      notes.push(`(b') ${colocated.trials.length} more paired trials with the control plane at normal priority, as this host co-locates it: ratios.density_${N}_vs_raw_docker_colocated = ${c.median} (min ${c.min}, max ${c.max}); agent runs ${colocated.trials.map((t) => t.agentS).join(', ')} s, raw Docker ${colocated.trials.map((t) => t.dockerS).join(', ')} s`);
    }
  } else notes.push('(b) the control plane ran at normal priority, co-located with the node on this host (--control-plane-nice 0)');
  if (idleS.n) notes.push(decoyNote(N, tr, schedS, idleS));
  const rawPerPod = spread(tr.baselines.map((b) => b.perPodDocker?.p50 ?? NaN)).median;
  notes.push(
    `(b) per pod, the create/start calls took p50 ${split['docker: create/start calls'].p50} s for the agent's pods vs ${rawPerPod} s (median of the raw-Docker runs' p50) for the raw-Docker pairs at the same parallelism`,
    `(b) ${runs100.length} paired trial(s): each the agent's run (Deployment scaled 0 → ${N}, timed from the scale request to the bench's watch seeing all Running; then scaled to 0 and drained) and raw-Docker runs (one per baseline load) of the same ${N} sandbox + app container pairs at parallelism ${tr.parallelism} (${tr.parallelismSource}), the order drawn at random per trial; ratio = median of the per-trial ratios (min ${ratioS.min}, max ${ratioS.max}); agent runs ${agentS.values.join(', ')} s, raw Docker ${dockerS.values.join(', ')} s`,
    `(b) the agent's time includes ReplicaSet creation and scheduling (control plane): see details.density.split (per pod, p50/p90) and runs[].wall (last pod created/bound, first/last Docker call); the "agent saw it" time is from ${runs100[0]?.seenSource ?? '?'}; the agent stages include waiting for the agent's own create/start slots (runtimeParallelism)`,
  );
  return { figures, ratios, details, notes, runs: [...warmups, ...runs100] };
}

/** What the raw-Docker arm's control plane did, and the other baselines' ratios. */
function decoyNote(N: number, tr: Awaited<ReturnType<typeof pairedTrials>>, schedS: ReturnType<typeof spread>, idleS: ReturnType<typeof spread>): string {
  const nice = 'Nice 19 does not keep the control plane off dockerd\'s CPU on this 2-vCPU host: a busy loop at nice 19 in its own autogroup slowed 100 raw-Docker pairs by 13 % at half a core and 29 % at a full core.';
  const sched = `the same Deployment scaled 0 → ${N} onto a decoy Node no agent serves (bench/lib/pod-decoy.ts), so the ReplicaSet controller, scheduler, apiserver, etcd and the bench's watch work as in the agent's run`;
  const idle = `with the control plane idle: ratios.density_${N}_vs_raw_docker_control_plane_idle = ${idleS.median} (min ${idleS.min}, max ${idleS.max}), raw Docker ${tr.trials.map((t) => t.dockerIdleS).join(', ')} s`;
  if (!schedS.n) return `(b) ratios.density_${N}_vs_raw_docker compares the agent's run with a raw-Docker run made while the control plane does its own part of a ${N}-pod start: ${sched}; the kubelet's API writes and what they trigger are not replayed. ${nice} Each trial also ran raw Docker ${idle}`;
  const replay = tr.baselines.map((b) => b.replay).filter((r) => r !== undefined);
  const sum = (k: 'tokens' | 'events' | 'statusPatches') => replay.reduce((a, r) => a + r[k], 0);
  const med = (xs: number[]) => spread(xs).median;
  const cpAgent = med(tr.agentRuns.map((r) => ['etcd', 'kube-apiserver', 'kube-controller', 'kube-scheduler'].reduce((a, k) => a + (r.cpuSeconds[k] ?? 0), 0)));
  const cp = (bs: typeof tr.baselines) => med(bs.map((b) => b.cpu['control plane'] ?? NaN));
  const perPod = (counts: Record<string, number>[]) => round(med(counts.map((c) => Object.values(c).reduce((a, x) => a + x, 0) / N)));
  const child = med(tr.baselines.map((b) => b.cpu['decoy kubelet (bench child)'] ?? NaN));
  const cpu = `Control-plane CPU-s per run (medians): ${cpAgent} in the agent's runs, ${cp(tr.baselines)} with the kubelet load, ${cp(tr.schedBaselines)} with the scheduling load only, ${cp(tr.idleBaselines)} idle; API requests per pod (apiserver_request_total, every client): ${perPod(tr.agentRuns.map((r) => r.apiRequests))} in the agent's runs, ${perPod(tr.baselines.map((b) => b.apiRequests))} with the kubelet load, ${perPod(tr.schedBaselines.map((b) => b.apiRequests))} with the scheduling load only. The decoy kubelet is a client too: it runs in a child process of its own at the control plane's priority (so not on the event loop that times the raw-Docker calls), and its ${child} CPU-s per run (median) are load the agent's arm does not have (there the agent's own client work is part of the agent)`;
  return `(b) ratios.density_${N}_vs_raw_docker compares the agent's run with a raw-Docker run made while the control plane does the work of an agent run: ${sched}, and a decoy kubelet (bench/lib/pod-decoy-kubelet.ts, the decoy Node's credentials, the agent's own request builders) watches the Node's pods and, as each raw-Docker pair begins and starts, makes a kubelet's writes for one decoy pod: the TokenRequest, the Pulled/Created/Started Events and the status patch to Running (over the ${replay.length} runs: ${sum('tokens')} token requests, ${sum('events')} Events, ${sum('statusPatches')} status patches; the ReplicaSet and Deployment status updates those trigger follow). Not replayed: the agent's token requests refused while the Node authorizer's graph lags and asked again, its ConfigMap reads, Node status and Lease writes. ${cpu}. ${nice} Each trial also ran raw Docker with the scheduling load only (the previous definition): ratios.density_${N}_vs_raw_docker_scheduling_load = ${schedS.median} (min ${schedS.min}, max ${schedS.max}), raw Docker ${tr.trials.map((t) => t.dockerSchedS).join(', ')} s; and ${idle}`;
}
