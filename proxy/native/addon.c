// The native relay's N-API surface: proxy/native/engine.ts is its only caller, on Node's main thread.
// Every call holds the engine lock, which the relay thread holds while it handles a batch.
#include "relay.h"

static listener *find(int id) {
  for (listener *l = E.listeners; l; l = l->next) if (l->id == id) return l;
  return NULL;
}

static int parse_addr(const char *ip, int port, struct sockaddr_storage *sa, socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) { a4->sin_family = AF_INET; a4->sin_port = htons(port); *len = sizeof *a4; return 0; }
  if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) { a6->sin6_family = AF_INET6; a6->sin6_port = htons(port); *len = sizeof *a6; return 0; }
  return -EINVAL;
}

/* ---- N-API surface (proxy/native/engine.ts is its only caller) ---- */

#define ARGS(n) size_t argc = n; napi_value argv[n]; napi_get_cb_info(env, info, &argc, argv, NULL, NULL)
static napi_value num(napi_env env, double v) { napi_value r; napi_create_double(env, v, &r); return r; }
static double get_num(napi_env env, napi_value v) { double d = 0; napi_get_value_double(env, v, &d); return d; }
static void get_str(napi_env env, napi_value v, char *out, size_t cap) { size_t n; out[0] = 0; napi_get_value_string_utf8(env, v, out, cap, &n); }

static void on_keepalive(uv_async_t *h) { (void)h; }

/* The environment is going away: stop the relay thread (it notices within a tick) and drop the handle. */
static void stop_engine(void *arg) {
  (void)arg;
  engine_lock();
  E.stopping = 1;
  engine_unlock();
  pthread_join(E.thread, NULL);
  uv_close((uv_handle_t *)&E.keepalive, NULL);
}

/* Set when the engine could not start its thread: it is not tried again (its async handle is closing). */
static int broken;

static int init_engine(napi_env env) {
  if (E.inited) return 0;
  if (broken) return broken;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
  int efd = epoll_create1(EPOLL_CLOEXEC);
  if (efd < 0) return -errno;
  char *buf = malloc(READ_BUF);
  if (!buf || uv_async_init(loop, &E.keepalive, on_keepalive)) { free(buf); close(efd); return -ENOMEM; }
  uv_unref((uv_handle_t *)&E.keepalive);
  E.efd = efd;
  E.buf = buf;
  E.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int rc = pthread_create(&E.thread, NULL, relay_main, NULL);
  if (rc) {
    uv_close((uv_handle_t *)&E.keepalive, NULL);
    close(E.efd);
    if (E.reserve_fd >= 0) close(E.reserve_fd);
    free(E.buf);
    E.efd = E.reserve_fd = -1;
    E.buf = NULL;
    return broken = -rc;
  }
  napi_add_env_cleanup_hook(env, stop_engine, NULL);
  E.inited = 1;
  return 0;
}

/* start() → 0, or -errno when the engine (epoll set, async handle, relay thread) cannot start; the
 * caller then uses its JavaScript data path. listen() starts it too. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, init_engine(env));
}

/* listen(host, port, backlog, maxConnections, idleTimeoutMs, dialStepsMs[]) → id > 0, or -errno */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(6);
  char host[INET6_ADDRSTRLEN];
  get_str(env, argv[0], host, sizeof host);
  int port = (int)get_num(env, argv[1]), backlog = (int)get_num(env, argv[2]);
  int rc = init_engine(env);
  if (rc) return num(env, rc);
  struct sockaddr_storage sa;
  socklen_t salen;
  if (parse_addr(host, port, &sa, &salen)) return num(env, -EINVAL);
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return num(env, -errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
  if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, backlog) < 0) { int e = errno; close(fd); return num(env, -e); }
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &glen);
  listener *l = calloc(1, sizeof *l);
  if (!l) { close(fd); return num(env, -ENOMEM); }
  engine_lock();
  l->kind = K_LISTENER;
  l->id = ++E.ids;
  l->fd = fd;
  l->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port : ((struct sockaddr_in *)&got)->sin_port);
  l->max_conns = (int)get_num(env, argv[3]);
  l->idle_ms = get_num(env, argv[4]);
  l->next_sweep = now_ms() + l->idle_ms / IDLE_SWEEPS;
  uint32_t steps = 0;
  napi_get_array_length(env, argv[5], &steps);
  for (uint32_t i = 0; i < steps && i < MAX_DIAL_STEPS; i++) {
    napi_value v;
    napi_get_element(env, argv[5], i, &v);
    l->dial_ms[l->ndial++] = get_num(env, v);
  }
  l->next = E.listeners;
  E.listeners = l;
  int id = l->id; /* accepting starts with the first setTargets */
  engine_unlock();
  uv_ref((uv_handle_t *)&E.keepalive);
  return num(env, id);
}

static void lock(void) { engine_lock(); }
static void unlock(void) { engine_unlock(); }

static napi_value js_port(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (!E.inited) return num(env, 0);
  lock();
  listener *l = find((int)get_num(env, argv[0]));
  int port = l ? l->port : 0;
  unlock();
  return num(env, port);
}

/* setTargets(id, ips[], ports[], affinityMs): the usable endpoints in round-robin order, and the
 * ClientIP affinity timeout (0: none). Affinity to an endpoint that is no longer usable is forgotten. */
static napi_value js_set_targets(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (!E.inited) return num(env, -ENOENT);
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  target *ts = n ? calloc(n, sizeof *ts) : NULL;
  if (n && !ts) return num(env, -ENOMEM);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value vi, vp;
    napi_get_element(env, argv[1], i, &vi);
    napi_get_element(env, argv[2], i, &vp);
    get_str(env, vi, ts[k].ip, sizeof ts[k].ip);
    ts[k].port = (int)get_num(env, vp);
    if (parse_addr(ts[k].ip, ts[k].port, &ts[k].sa, &ts[k].salen) == 0) k++;
  }
  double aff_ms = get_num(env, argv[3]);
  int id = (int)get_num(env, argv[0]);
  lock();
  listener *l = find(id);
  if (!l) { unlock(); free(ts); return num(env, -ENOENT); }
  target *old = l->targets;
  l->targets = ts;
  l->ntargets = (int)k;
  if (l->rr >= l->ntargets) l->rr = 0;
  if (aff_ms != l->aff_ms || aff_ms <= 0) aff_clear(&l->aff);
  else if (l->aff.used) aff_rebuild(&l->aff, aff_target_present, l);
  l->aff_ms = aff_ms > 0 ? aff_ms : 0;
  if (!l->ready) { l->ready = 1; listener_arm(l, 1); }
  unlock();
  free(old); /* connections keep copies of their target, not pointers into the list */
  return num(env, k);
}

/* closeTarget(id, ip, port): resets the connections to an endpoint that left the slice; returns how many. */
static napi_value js_close_target(napi_env env, napi_callback_info info) {
  ARGS(3);
  if (!E.inited) return num(env, 0);
  char ip[INET6_ADDRSTRLEN];
  get_str(env, argv[1], ip, sizeof ip);
  int port = (int)get_num(env, argv[2]), closed = 0;
  lock();
  listener *l = find((int)get_num(env, argv[0]));
  for (conn *c = l ? l->head : NULL, *nx; c; c = nx) {
    nx = c->next;
    if (c->t.port != port || strcmp(c->t.ip, ip) != 0) continue;
    /* A client still dialing it moves on to the next endpoint; an established connection is reset. */
    if (!c->connected) { redial(c); continue; }
    l->stats[S_ENDPOINT_CLOSES]++;
    teardown(c, HOW_RESET_BOTH);
    closed++;
  }
  unlock();
  return num(env, closed);
}

/* stats(id, Float64Array(10)): the counters, in S_* order. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(2);
  void *data;
  size_t len = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (!E.inited || napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off) != napi_ok || type != napi_float64_array) return num(env, -EINVAL);
  lock();
  listener *l = find((int)get_num(env, argv[0]));
  if (l) memcpy(data, l->stats, sizeof(double) * (len < S_COUNT ? len : S_COUNT));
  unlock();
  return num(env, l ? 0 : -ENOENT);
}

/* connections(id): "ip:port" of every connected connection's endpoint. */
static napi_value js_connections(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value arr;
  napi_create_array(env, &arr);
  if (!E.inited) return arr;
  typedef char key[INET6_ADDRSTRLEN + 8];
  key *keys = NULL;
  uint32_t n = 0, cap = 0;
  lock();
  listener *l = find((int)get_num(env, argv[0]));
  for (conn *c = l ? l->head : NULL; c; c = c->next) {
    if (!c->connected) continue;
    if (n == cap) {
      key *grown = realloc(keys, (cap = cap ? cap * 2 : 64) * sizeof *keys);
      if (!grown) break;
      keys = grown;
    }
    snprintf(keys[n++], sizeof(key), "%s:%d", c->t.ip, c->t.port);
  }
  unlock();
  for (uint32_t i = 0; i < n; i++) {
    napi_value s;
    napi_create_string_utf8(env, keys[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i, s);
  }
  free(keys);
  return arr;
}

/* close(id): stops accepting and resets every connection (the relay thread frees them after its next wait). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (!E.inited) return num(env, 0);
  int id = (int)get_num(env, argv[0]);
  lock();
  listener **pp = &E.listeners;
  while (*pp && (*pp)->id != id) pp = &(*pp)->next;
  listener *l = *pp;
  if (!l) { unlock(); return num(env, 0); }
  *pp = l->next;
  int none_left = E.listeners == NULL;
  listener_arm(l, 0);
  l->closed = 1;
  close(l->fd);
  while (l->head) teardown(l->head, HOW_RESET_BOTH);
  l->dead_next = E.dead_listeners;
  E.dead_listeners = l;
  unlock();
  if (none_left) uv_unref((uv_handle_t *)&E.keepalive);
  return num(env, 1);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor p[] = {
    { "start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL },
    { "listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL },
    { "port", NULL, js_port, NULL, NULL, NULL, napi_default, NULL },
    { "setTargets", NULL, js_set_targets, NULL, NULL, NULL, napi_default, NULL },
    { "closeTarget", NULL, js_close_target, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL },
    { "connections", NULL, js_connections, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof p / sizeof p[0], p);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

