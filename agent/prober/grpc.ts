// The gRPC probe, as upstream pkg/probe/grpc/grpc.go: one grpc.health.v1.Health/Check call over
// HTTP/2 (plaintext, User-Agent kube-probe/<version>) to <pod IP>:<port> with the probe's service name,
// under the probe's timeout; SERVING is success, any other answer or RPC error is failure with
// upstream's messages. The transport is @grpc/grpc-js (loaded on first use); only the two one-field
// health messages are encoded here (protobuf: HealthCheckRequest{string service = 1},
// HealthCheckResponse{ServingStatus status = 1}). Proxy environment variables are ignored (probes
// go straight to the pod, as upstream's dialer does).
import type * as Grpc from '@grpc/grpc-js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { ProbeOutcome } from './probe.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus names. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
/** Go's codes.Code String() names, by number. */
const CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable',
  'DataLoss', 'Unauthenticated',
];
const DEADLINE_EXCEEDED = 4;
const UNIMPLEMENTED = 12;

/** HealthCheckRequest{service}: field 1, length-delimited (empty service → empty message). */
export function encodeHealthCheckRequest(service: string): Buffer {
  const body = Buffer.from(service, 'utf8');
  if (body.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a]), varint(body.length), body]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    const b = buf[i]!;
    result += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return [result, i + 1];
  }
  throw new DockerletError(ErrorCodes.PROBE, 'malformed protobuf varint in the health response');
}

/** HealthCheckResponse → its status number (0 when absent); unknown fields are skipped. */
export function decodeHealthCheckResponse(buf: Buffer): number {
  let status = 0;
  let pos = 0;
  while (pos < buf.length) {
    const [key, next] = readVarint(buf, pos);
    pos = next;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [v, after] = readVarint(buf, pos);
      pos = after;
      if (field === 1) status = v;
    } else if (wire === 2) {
      const [len, after] = readVarint(buf, pos);
      pos = after + len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new DockerletError(ErrorCodes.PROBE, `unsupported protobuf wire type ${wire} in the health response`);
  }
  if (pos > buf.length) throw new DockerletError(ErrorCodes.PROBE, 'truncated health response');
  return status;
}

/** Upstream's text for a status: the enum name, or the number for unknown values. */
export function servingStatusName(n: number): string {
  return SERVING_STATUS[n] ?? String(n);
}

type GrpcModule = typeof Grpc;
let grpcModule: Promise<GrpcModule> | undefined;

function loadGrpc(): Promise<GrpcModule> {
  grpcModule ??= import('@grpc/grpc-js');
  return grpcModule;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One health check; never throws. */
export async function grpcProbe(host: string, port: number, service: string, timeoutMs: number, userAgent: string): Promise<ProbeOutcome> {
  const grpc = await loadGrpc();
  const addr = hostPort(host, port);
  const secs = `${timeoutMs / 1000}s`;
  let client: InstanceType<GrpcModule['Client']>;
  try {
    client = new grpc.Client(addr, grpc.credentials.createInsecure(), {
      'grpc.primary_user_agent': userAgent,
      'grpc.enable_http_proxy': 0,
      'grpc.enable_retries': 0,
      'grpc.max_reconnect_backoff_ms': timeoutMs,
    });
  } catch (err) {
    return { result: 'failure', output: `error: failed to connect service at "${addr}": ${(err as Error).message}` };
  }
  try {
    const status = await new Promise<number>((resolve, reject) => {
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (req: string) => encodeHealthCheckRequest(req),
        (buf: Buffer) => decodeHealthCheckResponse(buf),
        service,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err ? reject(err) : resolve(value ?? 0)),
      );
    });
    if (status !== 1) return { result: 'failure', output: `service unhealthy (responded with "${servingStatusName(status)}")` };
    return { result: 'success', output: 'service healthy' };
  } catch (err) {
    const e = err as { code?: number; details?: string; message?: string };
    if (e.code === UNIMPLEMENTED) {
      return { result: 'failure', output: `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${e.details ?? ''}` };
    }
    if (e.code === DEADLINE_EXCEEDED) return { result: 'failure', output: `timeout: health rpc did not complete within ${secs}` };
    const code = e.code !== undefined ? CODE_NAMES[e.code] ?? `Code(${e.code})` : 'Unknown';
    return { result: 'failure', output: `error: health rpc probe failed: rpc error: code = ${code} desc = ${e.details ?? e.message ?? ''}` };
  } finally {
    client.close();
  }
}
