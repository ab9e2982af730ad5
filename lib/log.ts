// JSON-lines logging (pino) to stdout; one child logger per component. Secrets are redacted by path.
// The CLI may hand in another destination (cli/log-format.ts: readable lines on a terminal) and make
// the logger it built the process root (setRootLogger), so parts without a given logger use it too.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = [
  'token', '*.token', 'password', '*.password', 'authorization', '*.authorization',
  'headers.authorization', 'key', '*.key', 'keyData', '*.keyData', 'data', '*.data', 'stringData', '*.stringData',
  // errors are logged as { err } with their details: the same fields one level down
  'err.details.token', 'err.details.password', 'err.details.authorization', 'err.details.data',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.DOCKERLET_LOG_LEVEL ?? 'info';
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

let root: Logger | undefined;

/** Makes `log` the process root logger (the CLI does this once, with the format and level chosen). */
export function setRootLogger(log: Logger): void {
  root = log;
}

/** The process-wide root logger (created on first use). */
export function rootLogger(): Logger {
  root ??= createLogger();
  return root;
}

/** A child logger for one component, e.g. component('pod-worker', { pod: 'ns/name' }). */
export function component(name: string, bindings: Record<string, unknown> = {}, parent?: Logger): Logger {
  return (parent ?? rootLogger()).child({ component: name, ...bindings });
}

/**
 * The one rule for default loggers: a part logs through the logger it was given (its parent's child),
 * else through a child of the process root logger named for the part — never silently. Only tests
 * pass silentLogger().
 */
export function partLogger(given: Logger | undefined, name: string, bindings: Record<string, unknown> = {}): Logger {
  return given ?? component(name, bindings);
}

/** A logger that drops everything (for unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
