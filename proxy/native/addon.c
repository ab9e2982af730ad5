// The native relay's N-API surface: proxy/native/engine.ts is its only caller, on Node's main thread.
// A call that touches a listener's state takes each relay thread's lock in turn (loop.c), never all
// of them at once.
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

/* The environment is going away: stop the relay threads and drop the handle. */
static void stop_engine(void *arg) {
  (void)arg;
  engine_stop();
  uv_close((uv_handle_t *)&E.keepalive, NULL);
}

/* Set when the engine could not start: it is not tried again (its async handle is closing). */
static int broken;

static int init_engine(napi_env env, int threads) {
  if (E.inited) return 0;
  if (broken) return broken;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
  if (uv_async_init(loop, &E.keepalive, on_keepalive)) return -ENOMEM;
  uv_unref((uv_handle_t *)&E.keepalive);
  int rc = engine_start(threads);
  if (rc) {
    uv_close((uv_handle_t *)&E.keepalive, NULL);
    return broken = rc;
  }
  napi_add_env_cleanup_hook(env, stop_engine, NULL);
  E.inited = 1;
  return 0;
}

/* start(threads) → the number of relay threads running (the first start's count: the engine is
 * process-wide), or -errno when the engine (epoll sets, async handle, threads) cannot start; the
 * caller then uses its JavaScript data path. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  ARGS(1);
  double threads = argc >= 1 ? get_num(env, argv[0]) : 1;
  int rc = init_engine(env, threads >= 1 ? (int)threads : 1);
  return num(env, rc ? rc : E.nworkers);
}

/* listen(host, port, backlog, maxConnections, idleTimeoutMs, dialStepsMs[]) → id > 0, or -errno */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(6);
  char host[INET6_ADDRSTRLEN];
  get_str(env, argv[0], host, sizeof host);
  int port = (int)get_num(env, argv[1]), backlog = (int)get_num(env, argv[2]);
  if (!E.inited) return num(env, -ENOENT);
  struct sockaddr_storage sa;
  socklen_t salen;
  if (parse_addr(host, port, &sa, &salen)) return num(env, -EINVAL);
  listener *l = calloc(1, sizeof *l);
  lslot **slots = calloc((size_t)E.nworkers, sizeof *slots);
  int ok = l && slots;
  for (int k = 0; ok && k < E.nworkers; k++) ok = (slots[k] = calloc(1, sizeof **slots)) != NULL;
  if (!ok) {
    for (int k = 0; slots && k < E.nworkers; k++) free(slots[k]);
    free(slots);
    free(l);
    return num(env, -ENOMEM);
  }
  int fds[MAX_WORKERS];
  int port_got = group_open(&sa, salen, backlog, E.nworkers, fds);
  if (port_got < 0) {
    for (int k = 0; k < E.nworkers; k++) free(slots[k]);
    free(slots);
    free(l);
    return num(env, port_got);
  }
  l->id = ++E.ids;
  l->port = port_got;
  l->home = (l->id - 1) % E.nworkers;
  l->max_conns = (int)get_num(env, argv[3]);
  l->idle_ms = get_num(env, argv[4]);
  uint32_t steps = 0;
  napi_get_array_length(env, argv[5], &steps);
  for (uint32_t i = 0; i < steps && i < MAX_DIAL_STEPS; i++) {
    napi_value v;
    napi_get_element(env, argv[5], i, &v);
    l->dial_ms[l->ndial++] = get_num(env, v);
  }
  l->slots = slots;
  atomic_init(&l->refs, E.nworkers);
  double now = now_ms();
  for (int k = 0; k < E.nworkers; k++) {
    lslot *s = slots[k];
    worker *w = E.w[k];
    s->kind = K_LISTENER;
    s->fd = fds[k];
    s->l = l;
    s->w = w;
    s->next_sweep = now + l->idle_ms / IDLE_SWEEPS;
    worker_lock(w);
    s->next = w->slots;
    w->slots = s;
    worker_unlock(w);
  }
  l->next = E.listeners;
  E.listeners = l; /* accepting starts with the first setTargets */
  uv_ref((uv_handle_t *)&E.keepalive);
  return num(env, l->id);
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  ARGS(1);
  listener *l = E.inited ? find((int)get_num(env, argv[0])) : NULL;
  return num(env, l ? l->port : 0);
}

/* Sets one thread's copy of a listener's endpoints and affinity (its lock held). */
static void slot_set_targets(lslot *s, target *ts, int n, double aff_ms) {
  s->targets = ts;
  s->ntargets = n;
  if (aff_ms != s->aff_ms || aff_ms <= 0) aff_clear(&s->aff);
  else if (s->aff.used) aff_rebuild(&s->aff, aff_target_present, s);
  s->aff_ms = aff_ms > 0 ? aff_ms : 0;
  s->ready = 1;
  slot_arm(s, slot_should_serve(s));
}

/* setTargets(id, ips[], ports[], affinityMs): the usable endpoints in round-robin order, and the
 * ClientIP affinity timeout (0: none). Affinity to an endpoint that is no longer usable is forgotten.
 * Each thread gets its own copy, under its own lock, one thread after the other. */
static napi_value js_set_targets(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (!E.inited) return num(env, -ENOENT);
  listener *l = find((int)get_num(env, argv[0]));
  if (!l) return num(env, -ENOENT);
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  int nw = E.nworkers;
  target **copies = calloc((size_t)nw, sizeof *copies);
  int ok = copies != NULL;
  for (int k = 0; ok && k < nw; k++) ok = !n || (copies[k] = calloc(n, sizeof(target))) != NULL;
  if (!ok) {
    for (int k = 0; copies && k < nw; k++) free(copies[k]);
    free(copies);
    return num(env, -ENOMEM);
  }
  target *ts = copies[0];
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value vi, vp;
    napi_get_element(env, argv[1], i, &vi);
    napi_get_element(env, argv[2], i, &vp);
    get_str(env, vi, ts[k].ip, sizeof ts[k].ip);
    ts[k].port = (int)get_num(env, vp);
    if (parse_addr(ts[k].ip, ts[k].port, &ts[k].sa, &ts[k].salen) == 0) k++;
  }
  for (int j = 1; j < nw; j++) if (k) memcpy(copies[j], ts, k * sizeof *ts);
  double aff_ms = get_num(env, argv[3]);
  /* Affinity on: new clients go to the home thread before its table is set; off: after the threads
   * forgot their tables. (Should the kernel refuse the program, the group keeps hashing: clients that
   * land on another thread get round robin, and affinity holds only for the home thread's share.) */
  int steer = nw > 1 && aff_ms > 0;
  if (steer && !l->steered && group_steer(l->slots[0]->fd, l->home) == 0) l->steered = 1;
  for (int j = 0; j < nw; j++) {
    lslot *s = l->slots[j];
    worker_lock(s->w);
    target *old = s->targets;
    slot_set_targets(s, copies[j], (int)k, aff_ms);
    worker_unlock(s->w);
    free(old); /* connections keep copies of their target, not pointers into the list */
  }
  if (!steer && l->steered && group_steer(l->slots[0]->fd, -1) == 0) l->steered = 0;
  free(copies);
  return num(env, k);
}

/* closeTarget(id, ip, port): resets the connections to an endpoint that left the slice; returns how many. */
static napi_value js_close_target(napi_env env, napi_callback_info info) {
  ARGS(3);
  listener *l = E.inited ? find((int)get_num(env, argv[0])) : NULL;
  if (!l) return num(env, 0);
  char ip[INET6_ADDRSTRLEN];
  get_str(env, argv[1], ip, sizeof ip);
  int port = (int)get_num(env, argv[2]), closed = 0;
  for (int k = 0; k < E.nworkers; k++) {
    lslot *s = l->slots[k];
    worker_lock(s->w);
    for (conn *c = s->head, *nx; c; c = nx) {
      nx = c->next;
      if (c->t.port != port || strcmp(c->t.ip, ip) != 0) continue;
      /* A client still dialing it moves on to the next endpoint; an established connection is reset. */
      if (!c->connected) { redial(c); continue; }
      s->stats[S_ENDPOINT_CLOSES]++;
      teardown(c, HOW_RESET_BOTH);
      closed++;
    }
    worker_unlock(s->w);
  }
  return num(env, closed);
}

/* stats(id, Float64Array(10)): the counters, in S_* order, summed over the threads. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(2);
  void *data;
  size_t len = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (!E.inited || napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off) != napi_ok || type != napi_float64_array) return num(env, -EINVAL);
  listener *l = find((int)get_num(env, argv[0]));
  if (!l) return num(env, -ENOENT);
  double sum[S_COUNT] = { 0 };
  for (int k = 0; k < E.nworkers; k++) {
    lslot *s = l->slots[k];
    worker_lock(s->w);
    for (int i = 0; i < S_COUNT; i++) sum[i] += s->stats[i];
    worker_unlock(s->w);
  }
  memcpy(data, sum, sizeof(double) * (len < S_COUNT ? len : S_COUNT));
  return num(env, 0);
}

/* connections(id): "ip:port" of every connected connection's endpoint. */
static napi_value js_connections(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value arr;
  napi_create_array(env, &arr);
  listener *l = E.inited ? find((int)get_num(env, argv[0])) : NULL;
  if (!l) return arr;
  typedef char key[INET6_ADDRSTRLEN + 8];
  key *keys = NULL;
  uint32_t n = 0, cap = 0;
  for (int k = 0; k < E.nworkers; k++) {
    lslot *s = l->slots[k];
    worker_lock(s->w);
    for (conn *c = s->head; c; c = c->next) {
      if (!c->connected) continue;
      if (n == cap) {
        key *grown = realloc(keys, (cap = cap ? cap * 2 : 64) * sizeof *keys);
        if (!grown) break;
        keys = grown;
      }
      snprintf(keys[n++], sizeof(key), "%s:%d", c->t.ip, c->t.port);
    }
    worker_unlock(s->w);
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value s;
    napi_create_string_utf8(env, keys[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i, s);
  }
  free(keys);
  return arr;
}

/* perThread(id): connections each relay thread has accepted and connected for the listener (tests,
 * diagnostics: how the kernel spread the listener's clients over the threads). */
static napi_value js_per_thread(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value arr;
  napi_create_array(env, &arr);
  listener *l = E.inited ? find((int)get_num(env, argv[0])) : NULL;
  for (int k = 0; l && k < E.nworkers; k++) {
    lslot *s = l->slots[k];
    worker_lock(s->w);
    double n = s->stats[S_CONNECTIONS];
    worker_unlock(s->w);
    napi_set_element(env, arr, (uint32_t)k, num(env, n));
  }
  return arr;
}

/* close(id): stops accepting and resets every connection, thread by thread (each frees its slot after
 * its next wait, and closes its listening socket now: clients still in its queue are reset). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (!E.inited) return num(env, 0);
  int id = (int)get_num(env, argv[0]);
  listener **pp = &E.listeners;
  while (*pp && (*pp)->id != id) pp = &(*pp)->next;
  listener *l = *pp;
  if (!l) return num(env, 0);
  *pp = l->next;
  int nw = E.nworkers;
  for (int k = 0; k < nw; k++) {
    lslot *s = l->slots[k];
    worker *w = s->w;
    worker_lock(w);
    slot_arm(s, 0);
    s->closed = 1;
    close(s->fd);
    while (s->head) teardown(s->head, HOW_RESET_BOTH);
    lslot **sp = &w->slots;
    while (*sp && *sp != s) sp = &(*sp)->next;
    if (*sp) *sp = s->next;
    s->dead_next = w->dead_slots;
    w->dead_slots = s; /* l may be freed by its thread from here on */
    worker_unlock(w);
  }
  if (!E.listeners) uv_unref((uv_handle_t *)&E.keepalive);
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
    { "perThread", NULL, js_per_thread, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof p / sizeof p[0], p);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

