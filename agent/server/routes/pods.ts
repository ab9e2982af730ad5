// /pods: the pods bound to this node as the agent holds them (desired spec + the status it computed),
// a v1 PodList (pkg/kubelet/server/server.go getPods); /runningpods/: the pods as the runtime sees
// them, only name, namespace, uid and the running containers' names and images (kubecontainer.Pod
// ToAPIPod), "used for testing only" upstream.
import type { FastifyInstance } from 'fastify';
import type { Pod } from '../../../kube/api.js';

export interface PodsDeps {
  pods(): Pod[];
  runningPods(): Promise<Pod[]>;
}

function podList(items: Pod[]): string {
  return JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: items.map((p) => ({ kind: 'Pod', apiVersion: 'v1', ...p })) });
}

export function registerPods(app: FastifyInstance, deps: PodsDeps, opts: { running: boolean }): void {
  app.get('/pods', async (_req, reply) => reply.type('application/json').send(podList(deps.pods())));
  if (opts.running) app.get('/runningpods/', async (_req, reply) => reply.type('application/json').send(podList(await deps.runningPods())));
}
