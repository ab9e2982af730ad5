// Entry file of a proxy shard process (forked by ShardPool with an IPC channel).
import { component } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { runShardChild } from './child.js';

const log = component('proxy-shard', { shard: process.pid });

if (!process.send) {
  log.error('proxy shard started without an IPC channel; it must be forked by ShardPool');
  process.exit(2);
}

// A bug in the data path must not leave a half-working shard: report it, exit, and let the pool
// restart this shard with back-off.
function fatal(kind: string, err: unknown): void {
  log.error({ err: errorMessage(err), kind }, 'proxy shard failed');
  try {
    process.send?.({ type: 'error', message: `${kind}: ${errorMessage(err)}` }, undefined, undefined, () => process.exit(1));
  } catch {
    /* the channel is gone */
  }
  setTimeout(() => process.exit(1), 200).unref();
}
process.on('uncaughtException', (err) => fatal('uncaughtException', err));
process.on('unhandledRejection', (err) => fatal('unhandledRejection', err));

runShardChild();
