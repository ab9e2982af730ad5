// /healthz, /healthz/ping, /healthz/log, /healthz/syncloop and /healthz/<check> as
// k8s.io/apiserver/pkg/server/healthz InstallHandler serves them for the kubelet: "ok", or 500 with
// "[-]<name> failed: reason withheld" lines and "healthz check failed"; ?verbose lists every check.
import type { FastifyInstance } from 'fastify';

export interface HealthCheck {
  name: string;
  /** undefined when healthy, else why not. */
  check(): string | undefined;
}

export function registerHealthz(app: FastifyInstance, extra: readonly HealthCheck[]): void {
  const checks: HealthCheck[] = [{ name: 'ping', check: () => undefined }, { name: 'log', check: () => undefined }, ...extra];
  app.get('/healthz', async (req, reply) => {
    const verbose = Object.prototype.hasOwnProperty.call(req.query as object, 'verbose');
    const results = checks.map((c) => ({ name: c.name, err: c.check() }));
    const failed = results.some((r) => r.err !== undefined);
    reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff');
    if (!failed && !verbose) return reply.send('ok');
    const lines = results.map((r) => (r.err === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: reason withheld`));
    lines.push(failed ? 'healthz check failed' : 'healthz check passed');
    return reply.code(failed ? 500 : 200).send(`${lines.join('\n')}\n`);
  });
  for (const c of checks) {
    app.get(`/healthz/${c.name}`, async (_req, reply) => {
      const err = c.check();
      reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff');
      return err === undefined ? reply.send('ok') : reply.code(500).send(`internal server error: ${err}\n`);
    });
  }
}
