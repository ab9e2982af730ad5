// /configz: the running configuration as {"kubeletconfig": KubeletConfiguration}
// (k8s.io/component-base/configz; the kubelet installs its KubeletConfiguration under that key).
import type { FastifyInstance } from 'fastify';

export function registerConfigz(app: FastifyInstance, configz: () => Record<string, unknown>): void {
  app.get('/configz', async (_req, reply) => reply.type('application/json').send(JSON.stringify({ kubeletconfig: configz() })));
}
