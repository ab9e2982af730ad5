// The native relay's threads: N relay threads (as nginx's and HAProxy's workers), each with its own
// epoll set, read buffer and connections, so the data path takes no lock shared between threads.
// - A listener is one listening socket per thread, bound to the same address in an SO_REUSEPORT group
//   (nginx's `reuseport`): the kernel spreads new clients over the threads by their address hash, and
//   a thread keeps the clients it accepted to the end. (EPOLLEXCLUSIVE on one shared socket was tried
//   first: it wakes the first idle thread, which then took 90-99 % of the clients.)
// - A listener with ClientIP affinity has its new clients steered to one thread (its home) by a
//   one-instruction classic BPF program on the group (addon.c); that thread owns the affinity table,
//   so affinity stays exact, as with one thread. (Clients already queued on another thread's socket
//   when affinity is switched on are served there, by round robin.)
// - Each thread has its own lock (worker.mu), held while it handles one event; JavaScript (addon.c)
//   takes one thread's lock at a time to change that thread's copy of a listener (endpoints, close),
//   and the thread hands it over between two events of a batch (never held for a whole batch of
//   reads). An endpoint update thus reaches the threads one after another, none stops for the others.
// - A connection or listener slot that ends is freed only after its thread's next epoll_wait has
//   returned: its sockets were closed (and removed from the epoll set) before that wait began, so no
//   later event can point at it.
// One thread (threads = 1) is the relay as it was before threads: one epoll set, one listening socket.
#include "relay.h"
#include <sched.h>
#include <stdio.h>

engine E;

void worker_lock(worker *w) {
  atomic_fetch_add(&w->want, 1);
  pthread_mutex_lock(&w->mu);
  atomic_fetch_sub(&w->want, 1);
}

void worker_unlock(worker *w) {
  pthread_mutex_unlock(&w->mu);
}

/* The thread, between two events: a waiting JavaScript call gets the lock first. */
static void hand_over(worker *w) {
  if (!atomic_load(&w->want)) return;
  pthread_mutex_unlock(&w->mu);
  while (atomic_load(&w->want)) sched_yield();
  pthread_mutex_lock(&w->mu);
}

/* Whether this thread accepts for the listener now: endpoints pushed, not closed, not paused. */
int slot_should_serve(const lslot *s) {
  return s->ready && !s->closed && !s->rearm_at;
}

/* Puts this thread's listening socket in its epoll set, or takes it out. */
void slot_arm(lslot *s, int on) {
  if (s->armed == on) return;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
  if (epoll_ctl(s->w->efd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->fd, &ev) == 0) s->armed = on;
}

/* Frees a slot whose thread no longer sees it; the last slot of a listener frees the listener. */
void slot_free(lslot *s) {
  listener *l = s->l;
  free(s->targets);
  free(s->aff.slots);
  free(s);
  if (atomic_fetch_sub(&l->refs, 1) == 1) { free(l->slots); free(l); }
}

static void reap(conn *cs, lslot *ss) {
  while (cs) { conn *c = cs; cs = c->dead_next; free(c); }
  while (ss) { lslot *s = ss; ss = s->dead_next; slot_free(s); }
}

#define ACCEPT_PAUSE_MS 100

static void on_accept(lslot *s) {
  worker *w = s->w;
  listener *l = s->l;
  for (int i = 0; i < ACCEPT_BATCH && !s->closed; i++) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    int aff = s->aff_ms > 0;
    int fd = accept4(s->fd, aff ? (struct sockaddr *)&from : NULL, aff ? &flen : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      s->stats[S_LISTENER_ERRORS]++;
      if ((errno == EMFILE || errno == ENFILE) && w->reserve_fd >= 0) {
        /* Out of descriptors: accept with the reserve one and close it, so the queue drains (libuv's trick). */
        close(w->reserve_fd);
        int x = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (x >= 0) close(x);
        w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return;
      }
      /* Any other failure (or no reserve descriptor) would come back at once from the level-triggered
       * listener: pause accepting on this thread for a moment instead of spinning. */
      s->rearm_at = now_ms() + ACCEPT_PAUSE_MS;
      slot_arm(s, 0);
      return;
    }
    if (atomic_fetch_add_explicit(&l->nconns, 1, memory_order_relaxed) >= l->max_conns) {
      atomic_fetch_sub_explicit(&l->nconns, 1, memory_order_relaxed);
      s->stats[S_DROPS]++;
      close(fd);
      continue;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) { atomic_fetch_sub(&l->nconns, 1); close(fd); return; }
    c->s = s;
    c->w = w;
    if (aff) {
      c->from.fam = (uint8_t)from.ss_family;
      if (from.ss_family == AF_INET) memcpy(c->from.a, &((struct sockaddr_in *)&from)->sin_addr, 4);
      else if (from.ss_family == AF_INET6) memcpy(c->from.a, &((struct sockaddr_in6 *)&from)->sin6_addr, 16);
    }
    c->client = (leg){ .kind = K_LEG, .fd = fd, .c = c, .peer = &c->backend };
    c->backend = (leg){ .kind = K_LEG, .fd = -1, .c = c, .peer = &c->client };
    c->next = s->head;
    if (s->head) s->head->prev = c;
    s->head = c;
    dial(c);
  }
}

static void sweep_idle(lslot *s, double now) {
  double idle_ms = s->l->idle_ms;
  if (idle_ms <= 0 || now < s->next_sweep) return;
  s->next_sweep = now + (idle_ms / IDLE_SWEEPS < 10 ? 10 : idle_ms / IDLE_SWEEPS);
  for (conn *c = s->head, *nx; c; c = nx) {
    nx = c->next;
    if (!c->connected) continue;
    double a = c->client.bytes + c->backend.bytes;
    if (a != c->idle_mark) { c->idle_mark = a; c->idle_sweeps = 0; continue; }
    if (++c->idle_sweeps >= IDLE_SWEEPS) { s->stats[S_IDLE]++; teardown(c, HOW_RESET_BOTH); }
  }
}

static void tick(worker *w, double now) {
  for (conn *c = w->dials, *nx; c; c = nx) {
    nx = c->dnext;
    if (c->dial_deadline <= now) dial_failed(c);
  }
  if (w->reserve_fd < 0) w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (lslot *s = w->slots; s; s = s->next) {
    if (s->rearm_at && now >= s->rearm_at) { s->rearm_at = 0; slot_arm(s, slot_should_serve(s)); }
    if (s->aff.used && now >= s->next_aff_purge) {
      double bounds[2] = { now, s->aff_ms };
      s->next_aff_purge = now + 60e3;
      aff_rebuild(&s->aff, aff_fresh, bounds);
    }
    sweep_idle(s, now);
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  struct epoll_event evs[MAX_EVENTS];
  double next_tick = now_ms() + TICK_MS;
  pthread_mutex_lock(&w->mu);
  while (!w->stopping) {
    conn *cs = w->dead;
    lslot *ss = w->dead_slots;
    w->dead = NULL;
    w->dead_slots = NULL;
    pthread_mutex_unlock(&w->mu);
    double wait = next_tick - now_ms();
    int n = epoll_wait(w->efd, evs, MAX_EVENTS, wait < 0 ? 0 : (int)wait + 1);
    pthread_mutex_lock(&w->mu);
    reap(cs, ss); /* ended before that wait began */
    for (int i = 0; i < n; i++) {
      if (i) hand_over(w);
      uint8_t kind = *(uint8_t *)evs[i].data.ptr;
      if (kind == K_LISTENER) { lslot *s = evs[i].data.ptr; if (!s->closed && s->armed) on_accept(s); }
      else on_leg(evs[i].data.ptr, evs[i].events);
    }
    double now = now_ms();
    if (now >= next_tick) { tick(w, now); next_tick = now + TICK_MS; }
  }
  reap(w->dead, w->dead_slots);
  w->dead = NULL;
  w->dead_slots = NULL;
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void worker_free(worker *w) {
  if (w->efd >= 0) close(w->efd);
  if (w->reserve_fd >= 0) close(w->reserve_fd);
  free(w->buf);
  for (int i = 0; i < w->nspare; i++) free(w->spare[i]);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* A test hook: DOCKERLET_RELAY_FAULT_THREAD=k makes the creation of thread k fail (EAGAIN), to check
 * that a partly started engine is undone and the proxy falls back to the pump. */
static int injected_fault(int k) {
  const char *v = getenv("DOCKERLET_RELAY_FAULT_THREAD");
  return v && *v && atoi(v) == k;
}

/* Starts `threads` relay threads: 0, or -errno with nothing left running (the threads already
 * started are stopped and joined). */
int engine_start(int threads) {
  if (threads < 1 || threads > MAX_WORKERS) return -EINVAL;
  E.w = calloc((size_t)threads, sizeof *E.w);
  if (!E.w) return -ENOMEM;
  int rc = 0, started = 0;
  for (int k = 0; k < threads && !rc; k++) {
    worker *w = calloc(1, sizeof *w);
    if (!w) { rc = -ENOMEM; break; }
    w->index = k;
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->efd = epoll_create1(EPOLL_CLOEXEC);
    w->buf = malloc(READ_BUF);
    pthread_mutex_init(&w->mu, NULL);
    E.w[k] = w;
    if (w->efd < 0) { rc = -errno; break; }
    if (!w->buf) { rc = -ENOMEM; break; }
    int e = injected_fault(k) ? EAGAIN : pthread_create(&w->thread, NULL, worker_main, w);
    if (e) { rc = -e; break; }
    // Named by the starter, so the name is there when start returns (the thread itself may not have run yet).
    char name[16];
    snprintf(name, sizeof name, "relay-%d", w->index);
    pthread_setname_np(w->thread, name);
    started++;
  }
  E.nworkers = started;
  if (!rc) return 0;
  engine_stop();
  for (int k = 0; k < threads; k++) if (E.w[k]) worker_free(E.w[k]);
  free(E.w);
  E.w = NULL;
  E.nworkers = 0;
  return rc;
}

/* Stops every thread (each notices within a tick) and waits for it. */
void engine_stop(void) {
  for (int k = 0; k < E.nworkers; k++) {
    worker_lock(E.w[k]);
    E.w[k]->stopping = 1;
    worker_unlock(E.w[k]);
  }
  for (int k = 0; k < E.nworkers; k++) pthread_join(E.w[k]->thread, NULL);
}
