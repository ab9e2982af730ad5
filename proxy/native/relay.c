// dockerlet's native TCP relay: the proxy's TCP data path (mode 'native'): accept → dial with the
// retry ladder → relay both ways → close, on relay threads of its own (loop.c), without entering
// JavaScript. JavaScript keeps every decision that is not per connection (which endpoints are usable,
// in which order, when they leave) and pushes it here (addon.c). Semantics match the pump (proxy/conn.ts):
// - no target or every dial failed: the client is reset; a dial that errors or passes its step of
//   the ladder moves to the next endpoint;
// - the client is read only once its endpoint has answered (bytes wait in the kernel until then);
// - a write that cannot finish keeps its rest on the destination leg and stops reading the source
//   until it is flushed (backpressure: at most one read buffer per direction, whatever the reader);
//   EOF is forwarded as shutdown(SHUT_WR) after queued bytes; both directions ended and nothing
//   queued: both sockets are closed;
// - a reset or any other error on one leg (ETIMEDOUT, EHOSTUNREACH...) is forwarded as a reset of
//   the other (SO_LINGER 0), never a FIN;
// - byte counters grow as bytes move (a scrape sees long-lived connections);
// - round robin over the usable endpoints JavaScript pushed (one counter for every thread), ClientIP
//   affinity (affinity.c) with its timeout, a retry ignoring affinity, as Balancer.next does.
// A connection lives on the thread that accepted it; everything here runs on that thread with its
// lock (worker.mu) held, and touches only that thread's state.
#include "relay.h"

static void buf_give(worker *w, char *b);

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
  epoll_ctl(g->c->w->efd, !events ? EPOLL_CTL_DEL : g->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, g->fd, &ev);
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
  if (g->pend) buf_give(g->c->w, g->pend);
  g->pend = NULL;
  g->plen = g->poff = 0;
}

static void dial_unlink(conn *c) {
  if (!c->dialing) return;
  c->dialing = 0;
  if (c->dprev) c->dprev->dnext = c->dnext; else c->w->dials = c->dnext;
  if (c->dnext) c->dnext->dprev = c->dprev;
  c->dprev = c->dnext = NULL;
}

void teardown(conn *c, int how) {
  if (c->finished) return;
  c->finished = 1;
  dial_unlink(c);
  lslot *s = c->s;
  close_leg(&c->client, how == HOW_RESET_CLIENT || how == HOW_RESET_BOTH);
  close_leg(&c->backend, how == HOW_RESET_BACKEND || how == HOW_RESET_BOTH);
  if (c->connected) s->stats[S_ACTIVE]--;
  if (c->prev) c->prev->next = c->next; else s->head = c->next;
  if (c->next) c->next->prev = c->prev;
  atomic_fetch_sub_explicit(&s->l->nconns, 1, memory_order_relaxed);
  c->dead_next = c->w->dead;
  c->w->dead = c;
}

/* Balancer.next: the client's endpoint while its affinity is fresh (not on a retry), else round robin. */
static int pick(lslot *s, conn *c) {
  if (s->ntargets == 0) return 0;
  double now = 0;
  /* Affinity on the home thread only: it alone gets the listener's new clients while affinity is on. */
  int sticky = s->aff_ms > 0 && s->w->index == s->l->home;
  if (sticky) {
    now = now_ms();
    aff *a = c->attempt == 0 ? aff_slot(&s->aff, &c->from, 0) : NULL;
    if (a && now - a->last < s->aff_ms) { a->last = now; c->t = a->t; return 1; }
  }
  unsigned i = atomic_fetch_add_explicit(&s->l->rr, 1, memory_order_relaxed);
  c->t = s->targets[i % (unsigned)s->ntargets];
  if (sticky) aff_put(&s->aff, &c->from, &c->t, now);
  return 1;
}

/* The endpoint being dialed left: give up this attempt (not a failure of the endpoint) and go on. */
void redial(conn *c) {
  if (c->connected || c->finished) return;
  dial_unlink(c);
  close_leg(&c->backend, 0);
  c->backend.events = 0;
  dial(c);
}

void dial_failed(conn *c) {
  c->s->stats[S_CONNECT_FAILURES]++;
  dial_unlink(c);
  close_leg(&c->backend, 0);
  c->backend.events = 0;
  dial(c);
}

void dial(conn *c) {
  lslot *s = c->s;
  listener *l = s->l;
  while (c->attempt < l->ndial && pick(s, c)) {
    double step = l->dial_ms[c->attempt++];
    int fd = socket(c->t.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { s->stats[S_CONNECT_FAILURES]++; continue; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&c->t.sa, c->t.salen) < 0 && errno != EINPROGRESS) {
      s->stats[S_CONNECT_FAILURES]++;
      close(fd);
      continue;
    }
    c->backend.fd = fd;
    c->backend.events = 0;
    ep_set(&c->backend, EPOLLOUT);
    c->dial_deadline = now_ms() + step;
    c->dialing = 1;
    c->dprev = NULL;
    c->dnext = c->w->dials;
    if (c->w->dials) c->w->dials->dprev = c;
    c->w->dials = c;
    return;
  }
  s->stats[S_REJECTS]++;
  teardown(c, HOW_RESET_CLIENT);
}

/* The dial's socket reported: a failed connect always comes with EPOLLERR (no SO_ERROR lookup needed). */
static void connected(conn *c, uint32_t ev) {
  if (ev & (EPOLLERR | EPOLLHUP)) { dial_failed(c); return; }
  dial_unlink(c);
  c->connected = 1;
  c->s->stats[S_CONNECTIONS]++;
  c->s->stats[S_ACTIVE]++;
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

/* Read buffers: a thread reads into its w->buf; a leg whose write could not finish takes that buffer
 * over (no copy) and gives it back when flushed. Spares are kept for reuse. */
static char *buf_take(worker *w) {
  return w->nspare ? w->spare[--w->nspare] : malloc(READ_BUF);
}

static void buf_give(worker *w, char *b) {
  if (w->nspare < SPARE_BUFS) w->spare[w->nspare++] = b;
  else free(b);
}

/* The n bytes just read from g into its thread's buffer go to its peer; returns 0 to go on reading g,
 * 1 to stop. */
static int forward(leg *g, size_t n) {
  leg *p = g->peer;
  worker *wk = g->c->w;
  ssize_t w = send(p->fd, wk->buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0) {
    if (errno != EAGAIN) { leg_error(p, errno); return 1; }
    w = 0;
  }
  if ((size_t)w == n) return 0;
  char *next = buf_take(wk);
  if (!next) { teardown(g->c, HOW_RESET_BOTH); return 1; }
  p->pend = wk->buf;
  wk->buf = next;
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
    ssize_t n = read(g->fd, c->w->buf, READ_BUF);
    if (n > 0) {
      g->bytes += n;
      c->s->stats[g == &c->client ? S_BYTES_IN : S_BYTES_OUT] += n;
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
  buf_give(c->w, p->pend);
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

void on_leg(leg *g, uint32_t ev) {
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
