// Plain per-listener counters; the data path only increments numbers, metrics.ts reads them at scrape time.

export class ListenerStats {
  /** Connections (TCP) or sessions (UDP) accepted and proxied to an endpoint. */
  connectionsTotal = 0;
  /** Currently open proxied connections / sessions. */
  active = 0;
  /** Client → endpoint bytes. */
  bytesIn = 0;
  /** Endpoint → client bytes. */
  bytesOut = 0;
  /** Failed dial attempts (each try of the retry ladder counts). */
  connectFailures = 0;
  /** Clients rejected: no usable endpoint, or every dial attempt failed. */
  rejects = 0;
  /** Dropped at the connection/session limit. */
  drops = 0;
  /** Connections closed because their endpoint left the EndpointSlice. */
  endpointRemovalCloses = 0;
  /** Connections closed by the idle timeout. */
  idleTimeouts = 0;
  /** Accept/socket errors on the listener itself (e.g. EMFILE). */
  listenerErrors = 0;
}
