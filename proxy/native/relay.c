// dockerlet's native TCP relay: the proxy's TCP data path (mode 'native'), on a thread of its own
// with one epoll set. JavaScript keeps every
// decision that is not per connection (which endpoints are usable, in which order, when they leave)
// and pushes it here; accept → dial with the retry ladder → relay both ways → close then runs
// without entering JavaScript. Semantics match the JavaScript data path (proxy/raw/conn.ts):
// - no target or every dial failed: the client is reset; a dial that errors or passes its step of
//   the ladder moves to the next endpoint;
// - the client is read only once its endpoint has answered (bytes wait in the kernel until then);
// - a write that cannot finish keeps its rest on the destination leg and stops reading the source
//   until it is flushed (backpressure); EOF is forwarded as shutdown(SHUT_WR) after queued bytes;
//   both directions ended and nothing queued: both sockets are closed;
// - a reset or any other error on one leg is forwarded as a reset of the other (SO_LINGER 0);
// - byte counters grow as bytes move (a scrape sees long-lived connections);
// - idle timeout by sweeps (4 sweeps without bytes), a connection limit, endpoint removal closes;
// - round robin over the usable endpoints JavaScript pushed, ClientIP affinity (affinity.c) with
//   its timeout, a retry ignoring affinity, as Balancer.next does.
// Threads: the relay thread waits in epoll_wait without the engine lock and handles each event of a
// batch with it, handing it to a waiting JavaScript call between two events; JavaScript's calls
// (addon.c) take it through engine_lock(). A connection or listener that ends is freed only after
// the relay thread's next epoll_wait has returned: its sockets were closed (and removed from the epoll
// set) before that wait began, so no later event can point at it.
#include "relay.h"
#include <sched.h>

engine E = { .efd = -1, .reserve_fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static void buf_give(char *b);

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A leg is in the epoll set only while it waits for something: with no interest left it is removed,
 * so a half-closed socket's level-triggered HUP cannot spin the loop. */
static void ep_set(leg *g, uint32_t events) {
  if (g->fd < 0 || g->events == events) return;
  struct epoll_event ev = { .events = events, .data.ptr = g };
  epoll_ctl(E.efd, !events ? EPOLL_CTL_DEL : g->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, g->fd, &ev);
  g->events = events;
}

static void close_leg(leg *g, int reset) {
  if (g->fd < 0) return;
  if (reset && !g->shut) {
    struct linger lg = { 1, 0 };
    setsockopt(g->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  /* Removed explicitly: a forked child may still hold the socket, and then close() would not remove it. */
  ep_set(g, 0);
  close(g->fd);
  g->fd = -1;
  if (g->pend) buf_give(g->pend);
  g->pend = NULL;
  g->plen = g->poff = 0;
}

static void dial_unlink(conn *c) {
  if (!c->dialing) return;
  c->dialing = 0;
  if (c->dprev) c->dprev->dnext = c->dnext; else E.dials = c->dnext;
  if (c->dnext) c->dnext->dprev = c->dprev;
  c->dprev = c->dnext = NULL;
}

void teardown(conn *c, int how) {
  if (c->finished) return;
  c->finished = 1;
  dial_unlink(c);
  listener *l = c->l;
  close_leg(&c->client, how == HOW_RESET_CLIENT || how == HOW_RESET_BOTH);
  close_leg(&c->backend, how == HOW_RESET_BACKEND || how == HOW_RESET_BOTH);
  if (c->connected) l->stats[S_ACTIVE]--;
  if (c->prev) c->prev->next = c->next; else l->head = c->next;
  if (c->next) c->next->prev = c->prev;
  l->nconns--;
  c->dead_next = E.dead;
  E.dead = c;
}

static void reap(conn *cs, listener *ls) {
  while (cs) { conn *c = cs; cs = c->dead_next; free(c); }
  while (ls) { listener *l = ls; ls = l->dead_next; free(l->targets); free(l->aff.slots); free(l); }
}

/* Balancer.next: the client's endpoint while its affinity is fresh (not on a retry), else round robin. */
static int pick(listener *l, conn *c) {
  if (l->ntargets == 0) return 0;
  double now = 0;
  if (l->aff_ms > 0) {
    now = now_ms();
    aff *a = c->attempt == 0 ? aff_slot(&l->aff, &c->from, 0) : NULL;
    if (a && now - a->last < l->aff_ms) { a->last = now; c->t = a->t; return 1; }
  }
  if (l->rr >= l->ntargets) l->rr = 0;
  c->t = l->targets[l->rr];
  l->rr = l->rr + 1 == l->ntargets ? 0 : l->rr + 1;
  if (l->aff_ms > 0) aff_put(&l->aff, &c->from, &c->t, now);
  return 1;
}

static void dial(conn *c);

/* The endpoint being dialed left: give up this attempt (not a failure of the endpoint) and go on. */
void redial(conn *c) {
  if (c->connected || c->finished) return;
  dial_unlink(c);
  close_leg(&c->backend, 0);
  c->backend.events = 0;
  dial(c);
}

/* JavaScript's side of the lock: says it waits, so the relay thread lets go between two events. */
void engine_lock(void) {
  atomic_fetch_add(&E.want, 1);
  pthread_mutex_lock(&E.mu);
  atomic_fetch_sub(&E.want, 1);
}

void engine_unlock(void) {
  pthread_mutex_unlock(&E.mu);
}

/* Relay thread, between two events: a waiting JavaScript call gets the lock first. Ended connections
 * and listeners stay allocated until after the next epoll_wait, so the rest of the batch is safe. */
static void hand_over(void) {
  if (!atomic_load(&E.want)) return;
  pthread_mutex_unlock(&E.mu);
  while (atomic_load(&E.want)) sched_yield();
  pthread_mutex_lock(&E.mu);
}

static void dial_failed(conn *c) {
  c->l->stats[S_CONNECT_FAILURES]++;
  dial_unlink(c);
  close_leg(&c->backend, 0);
  c->backend.events = 0;
  dial(c);
}

static void dial(conn *c) {
  listener *l = c->l;
  while (c->attempt < l->ndial && pick(l, c)) {
    double step = l->dial_ms[c->attempt++];
    int fd = socket(c->t.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { l->stats[S_CONNECT_FAILURES]++; continue; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&c->t.sa, c->t.salen) < 0 && errno != EINPROGRESS) {
      l->stats[S_CONNECT_FAILURES]++;
      close(fd);
      continue;
    }
    c->backend.fd = fd;
    c->backend.events = 0;
    ep_set(&c->backend, EPOLLOUT);
    c->dial_deadline = now_ms() + step;
    c->dialing = 1;
    c->dprev = NULL;
    c->dnext = E.dials;
    if (E.dials) E.dials->dprev = c;
    E.dials = c;
    return;
  }
  l->stats[S_REJECTS]++;
  teardown(c, HOW_RESET_CLIENT);
}

/* The dial's socket reported: a failed connect always comes with EPOLLERR (no SO_ERROR lookup needed). */
static void connected(conn *c, uint32_t ev) {
  if (ev & (EPOLLERR | EPOLLHUP)) { dial_failed(c); return; }
  dial_unlink(c);
  c->connected = 1;
  c->l->stats[S_CONNECTIONS]++;
  c->l->stats[S_ACTIVE]++;
  ep_set(&c->backend, EPOLLIN);
  ep_set(&c->client, EPOLLIN);
}

/* Both directions ended: close once nothing is queued. */
static void maybe_done(conn *c) {
  if (c->client.eof && c->backend.eof && c->client.plen == 0 && c->backend.plen == 0) teardown(c, HOW_CLOSE);
}

/* An error on leg g (a reset, a write into a reset socket, ETIMEDOUT, EHOSTUNREACH...) is forwarded
 * to the other leg as a reset, never a FIN: a truncated stream must not look complete. */
static void leg_error(leg *g, int e) {
  (void)e;
  conn *c = g->c;
  teardown(c, g == &c->client ? HOW_RESET_BACKEND : HOW_RESET_CLIENT);
}

static void leg_ended(leg *g) {
  conn *c = g->c;
  leg *p = g->peer;
  g->eof = 1;
  if (p->eof && !c->client.plen && !c->backend.plen) { teardown(c, HOW_CLOSE); return; }
  ep_set(g, g->events & ~EPOLLIN);
  if (p->eof) { maybe_done(c); return; }
  if (p->plen) { p->shut_pending = 1; return; }
  p->shut = 1;
  if (shutdown(p->fd, SHUT_WR) < 0) teardown(c, HOW_CLOSE);
}

/* Read buffers: the engine reads into E.buf; a leg whose write could not finish takes that buffer
 * over (no copy) and gives it back when flushed. Spares are kept for reuse. */
static char *buf_take(void) {
  return E.nspare ? E.spare[--E.nspare] : malloc(READ_BUF);
}

static void buf_give(char *b) {
  if (E.nspare < SPARE_BUFS) E.spare[E.nspare++] = b;
  else free(b);
}

/* The n bytes just read from g into E.buf go to its peer; returns 0 to go on reading g, 1 to stop. */
static int forward(leg *g, size_t n) {
  leg *p = g->peer;
  ssize_t w = send(p->fd, E.buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0) {
    if (errno != EAGAIN) { leg_error(p, errno); return 1; }
    w = 0;
  }
  if ((size_t)w == n) return 0;
  char *next = buf_take();
  if (!next) { teardown(g->c, HOW_RESET_BOTH); return 1; }
  p->pend = E.buf;
  E.buf = next;
  p->plen = n;
  p->poff = (size_t)w;
  ep_set(p, p->events | EPOLLOUT);
  g->paused = 1;
  ep_set(g, g->events & ~EPOLLIN);
  return 1;
}

static void on_readable(leg *g) {
  conn *c = g->c;
  for (int i = 0; i < 2 && !c->finished; i++) {
    ssize_t n = read(g->fd, E.buf, READ_BUF);
    if (n > 0) {
      g->bytes += n;
      c->l->stats[g == &c->client ? S_BYTES_IN : S_BYTES_OUT] += n;
      if (forward(g, (size_t)n) || n < READ_BUF) return;
      continue;
    }
    if (n == 0) { leg_ended(g); return; }
    if (errno == EAGAIN || errno == EINTR) return;
    leg_error(g, errno);
    return;
  }
}

static void on_writable(leg *p) {
  conn *c = p->c;
  if (!p->plen) { ep_set(p, p->events & ~EPOLLOUT); return; }
  ssize_t w = send(p->fd, p->pend + p->poff, p->plen - p->poff, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0) {
    if (errno != EAGAIN) leg_error(p, errno);
    return;
  }
  p->poff += (size_t)w;
  if (p->poff < p->plen) return;
  buf_give(p->pend);
  p->pend = NULL;
  p->plen = p->poff = 0;
  ep_set(p, p->events & ~EPOLLOUT);
  leg *src = p->peer;
  if (p->shut_pending) {
    p->shut_pending = 0;
    p->shut = 1;
    if (shutdown(p->fd, SHUT_WR) < 0) { teardown(c, HOW_CLOSE); return; }
  }
  if (src->eof && p->eof) { maybe_done(c); return; }
  if (src->paused && !src->eof) { src->paused = 0; ep_set(src, src->events | EPOLLIN); }
}

static void on_leg(leg *g, uint32_t ev) {
  conn *c = g->c;
  if (c->finished || g->fd < 0) return;
  if (g == &c->backend && !c->connected) { connected(c, ev); return; }
  if (ev & EPOLLOUT) { on_writable(g); if (c->finished) return; }
  if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (g->events & EPOLLIN)) on_readable(g);
  else if ((ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLOUT)) {
    /* Not reading and nothing to write, yet the socket failed or is shut both ways: end it here
     * (a level-triggered HUP would otherwise come back at every poll). */
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) leg_error(g, err);
    else teardown(c, HOW_CLOSE);
  }
}

/* Puts the listener in the epoll set, or takes it out. */
void listener_arm(listener *l, int on) {
  if (l->closed || l->armed == on) return;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
  if (epoll_ctl(E.efd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, l->fd, &ev) == 0) l->armed = on;
}

#define ACCEPT_PAUSE_MS 100

static void on_accept(listener *l) {
  for (int i = 0; i < ACCEPT_BATCH && !l->closed; i++) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    int fd = accept4(l->fd, l->aff_ms > 0 ? (struct sockaddr *)&from : NULL, l->aff_ms > 0 ? &flen : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      l->stats[S_LISTENER_ERRORS]++;
      if ((errno == EMFILE || errno == ENFILE) && E.reserve_fd >= 0) {
        /* Out of descriptors: accept with the reserve one and close it, so the queue drains (libuv's trick). */
        close(E.reserve_fd);
        int x = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (x >= 0) close(x);
        E.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return;
      }
      /* Any other failure (or no reserve descriptor) would come back at once from the level-triggered
       * listener: pause accepting for a moment instead of spinning. */
      listener_arm(l, 0);
      l->rearm_at = now_ms() + ACCEPT_PAUSE_MS;
      return;
    }
    if (l->nconns >= l->max_conns) { l->stats[S_DROPS]++; close(fd); continue; }
    conn *c = calloc(1, sizeof *c);
    if (!c) { close(fd); return; }
    c->l = l;
    if (l->aff_ms > 0) {
      c->from.fam = (uint8_t)from.ss_family;
      if (from.ss_family == AF_INET) memcpy(c->from.a, &((struct sockaddr_in *)&from)->sin_addr, 4);
      else if (from.ss_family == AF_INET6) memcpy(c->from.a, &((struct sockaddr_in6 *)&from)->sin6_addr, 16);
    }
    c->client = (leg){ .kind = K_LEG, .fd = fd, .c = c, .peer = &c->backend };
    c->backend = (leg){ .kind = K_LEG, .fd = -1, .c = c, .peer = &c->client };
    c->next = l->head;
    if (l->head) l->head->prev = c;
    l->head = c;
    l->nconns++;
    dial(c);
  }
}

static void tick(double now) {
  for (conn *c = E.dials, *nx; c; c = nx) {
    nx = c->dnext;
    if (c->dial_deadline <= now) dial_failed(c);
  }
  if (E.reserve_fd < 0) E.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (listener *l = E.listeners; l; l = l->next) {
    if (l->rearm_at && now >= l->rearm_at) { l->rearm_at = 0; listener_arm(l, l->ready); }
    if (l->aff.used && now >= l->next_aff_purge) {
      double bounds[2] = { now, l->aff_ms };
      l->next_aff_purge = now + 60e3;
      aff_rebuild(&l->aff, aff_fresh, bounds);
    }
    if (l->idle_ms <= 0 || now < l->next_sweep) continue;
    l->next_sweep = now + (l->idle_ms / IDLE_SWEEPS < 10 ? 10 : l->idle_ms / IDLE_SWEEPS);
    for (conn *c = l->head, *nx; c; c = nx) {
      nx = c->next;
      if (!c->connected) continue;
      double a = c->client.bytes + c->backend.bytes;
      if (a != c->idle_mark) { c->idle_mark = a; c->idle_sweeps = 0; continue; }
      if (++c->idle_sweeps >= IDLE_SWEEPS) { l->stats[S_IDLE]++; teardown(c, HOW_RESET_BOTH); }
    }
  }
}


void *relay_main(void *arg) {
  (void)arg;
  struct epoll_event evs[MAX_EVENTS];
  double next_tick = now_ms() + TICK_MS;
  pthread_mutex_lock(&E.mu);
  while (!E.stopping) {
    conn *cs = E.dead;
    listener *ls = E.dead_listeners;
    E.dead = NULL;
    E.dead_listeners = NULL;
    pthread_mutex_unlock(&E.mu);
    double wait = next_tick - now_ms();
    int n = epoll_wait(E.efd, evs, MAX_EVENTS, wait < 0 ? 0 : (int)wait + 1);
    pthread_mutex_lock(&E.mu);
    reap(cs, ls); /* ended before that wait began */
    for (int i = 0; i < n; i++) {
      if (i) hand_over();
      uint8_t kind = *(uint8_t *)evs[i].data.ptr;
      if (kind == K_LISTENER) { listener *l = evs[i].data.ptr; if (!l->closed) on_accept(l); }
      else on_leg(evs[i].data.ptr, evs[i].events);
    }
    double now = now_ms();
    if (now >= next_tick) { tick(now); next_tick = now + TICK_MS; }
  }
  pthread_mutex_unlock(&E.mu);
  return NULL;
}
