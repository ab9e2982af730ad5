// Node's own libuv TCP handle bindings (tcp_wrap, stream_wrap), the layer under net.Socket. The raw
// data path uses them directly: no Socket/stream objects per connection and no per-chunk stream
// machinery. They are internal (process.binding, DEP0111), so they are looked up once, checked for
// every member used, and the proxy falls back to the net.Socket pump when anything is missing.

export interface RawConnectReq {
  oncomplete: (this: RawConnectReq, status: number, handle?: RawTcpHandle) => void;
  [key: symbol]: unknown;
}
export interface RawWriteReq {
  oncomplete: (this: RawWriteReq, status: number) => void;
  buffer: Uint8Array | null;
  [key: symbol]: unknown;
}
export interface RawShutdownReq {
  /** Optional: without it libuv's completion reaches no JavaScript at all. */
  oncomplete?: (this: RawShutdownReq, status: number) => void;
  [key: symbol]: unknown;
}

export interface RawTcpHandle {
  onread: (this: RawTcpHandle, ab: ArrayBuffer | undefined) => void;
  onconnection?: ((status: number, handle: RawTcpHandle | undefined) => void) | null;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: RawWriteReq, buf: Uint8Array): number;
  shutdown(req: RawShutdownReq): number;
  useUserBuffer(buf: Uint8Array): void;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string; port?: number }): number;
  connect(req: RawConnectReq, ip: string, port: number): number;
  connect6(req: RawConnectReq, ip: string, port: number): number;
  reset(cb?: () => void): number;
  close(cb?: () => void): void;
  [key: symbol]: unknown;
}

export interface RawBindings {
  newSocket(): RawTcpHandle;
  newConnectReq(): RawConnectReq;
  newWriteReq(): RawWriteReq;
  newShutdownReq(): RawShutdownReq;
  /** Int32Array shared with C++: nread/error of the last read, offset into its ArrayBuffer, last write async. */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

/** uv's EOF code (UV_EOF). */
export const UV_EOF = -4095;

type Ctor<T> = new (...args: unknown[]) => T;

let cached: RawBindings | null | undefined;

/** The bindings, or null when this Node does not expose them in the expected shape. */
export function rawBindings(): RawBindings | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as { TCP: Ctor<RawTcpHandle>; TCPConnectWrap: Ctor<RawConnectReq>; constants: { SOCKET: number } };
    const sw = binding('stream_wrap') as {
      WriteWrap: Ctor<RawWriteReq>; ShutdownWrap: Ctor<RawShutdownReq>; streamBaseState: Int32Array;
      kReadBytesOrError: number; kArrayBufferOffset: number; kLastWriteWasAsync: number;
    };
    if (typeof tcp.TCP !== 'function' || typeof tcp.TCPConnectWrap !== 'function' || typeof sw.WriteWrap !== 'function'
      || typeof sw.ShutdownWrap !== 'function' || !(sw.streamBaseState instanceof Int32Array)
      || ![sw.kReadBytesOrError, sw.kArrayBufferOffset, sw.kLastWriteWasAsync].every((k) => Number.isInteger(k))) return null;
    const proto = tcp.TCP.prototype as unknown as Record<string, unknown>;
    const methods = ['readStart', 'readStop', 'writeBuffer', 'shutdown', 'useUserBuffer', 'setNoDelay', 'getpeername', 'connect', 'connect6', 'reset', 'close'];
    if (!methods.every((m) => typeof proto[m] === 'function')) return null;
    const SOCKET = tcp.constants.SOCKET;
    cached = {
      newSocket: () => new tcp.TCP(SOCKET),
      newConnectReq: () => new tcp.TCPConnectWrap(),
      newWriteReq: () => new sw.WriteWrap(),
      newShutdownReq: () => new sw.ShutdownWrap(),
      state: sw.streamBaseState,
      kReadBytesOrError: sw.kReadBytesOrError,
      kArrayBufferOffset: sw.kArrayBufferOffset,
      kLastWriteWasAsync: sw.kLastWriteWasAsync,
    };
  } catch {
    cached = null;
  }
  return cached;
}

/** The listening handle under a listening net.Server (null when it has none). */
export function serverHandle(server: object): RawTcpHandle | null {
  const h = (server as { _handle?: unknown })._handle;
  return h && typeof h === 'object' && 'onconnection' in h ? (h as RawTcpHandle) : null;
}
