// `dockerlet metrics`: cAdvisor's job on a plain Docker host (no Kubernetes): container metrics with
// cAdvisor's names and labels on its port 8080. Flags follow cAdvisor's where it has one.
import { parseArgs } from 'node:util';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { StandaloneOptions } from '../metrics/standalone.js';

export const METRICS_USAGE = `usage: dockerlet metrics [--address IP] [--port 8080] [--housekeeping-interval 10s]
                         [--state-dir DIR] [--docker-socket PATH] [--container-labels all|none|k1,k2]
                         [--no-timestamps] [--no-fds]
Serves GET /metrics (cAdvisor's container_* and machine_* series, plain HTTP) and GET /healthz.
cAdvisor's own label flags work too: --store_container_labels=false [--whitelisted_container_labels=k1,k2]
(the same as --container-labels none, or k1,k2).
`;

/** A Go-style duration (10s, 500ms, 1m) or plain seconds, in ms. */
function durationMs(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --${flag}: expected a duration such as 10s, got "${v}"`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

/**
 * Which Docker labels become container_label_*: --container-labels, or cAdvisor's pair
 * --store_container_labels=false + --whitelisted_container_labels (cmd/cadvisor.go: the whitelist only
 * applies when storing is off). Both forms at once is a config error naming the flags.
 */
function containerLabels(flag: string | undefined, store: string | undefined, whitelist: string | undefined): StandaloneOptions['containerLabels'] {
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  if (store !== undefined && !['true', 'false'].includes(store)) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --store_container_labels: expected true or false, got "${store}"`);
  }
  if (flag !== undefined && (store !== undefined || whitelist !== undefined)) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'flag --container-labels: give it or --store_container_labels/--whitelisted_container_labels, not both');
  }
  if (store === 'false') return whitelist && list(whitelist).length > 0 ? list(whitelist) : 'none';
  if (store === 'true') return 'all';
  if (flag === undefined || flag === 'all' || flag === 'none') return flag;
  return list(flag);
}

export function parseMetricsFlags(argv: string[], log: Logger): StandaloneOptions & { help: boolean } {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        address: { type: 'string' }, port: { type: 'string' }, 'housekeeping-interval': { type: 'string' },
        'state-dir': { type: 'string' }, 'docker-socket': { type: 'string' }, 'container-labels': { type: 'string' },
        'no-timestamps': { type: 'boolean' }, 'no-fds': { type: 'boolean' }, 'log-level': { type: 'string' },
        store_container_labels: { type: 'string' }, whitelisted_container_labels: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flags: ${(err as Error).message}`, { cause: err });
  }
  const port = v.port === undefined ? undefined : Number(v.port);
  if (port !== undefined && !Number.isInteger(port)) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --port: expected an integer, got "${v.port}"`);
  const labels = containerLabels(v['container-labels'], v.store_container_labels, v.whitelisted_container_labels);
  return {
    help: v.help ?? false,
    address: v.address,
    port,
    housekeepingMs: v['housekeeping-interval'] === undefined ? undefined : durationMs('housekeeping-interval', v['housekeeping-interval']),
    stateDir: v['state-dir'],
    dockerSocket: v['docker-socket'],
    containerLabels: labels,
    timestamps: v['no-timestamps'] ? false : undefined,
    countFds: v['no-fds'] ? false : undefined,
    log,
  };
}
