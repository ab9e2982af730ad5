// Shared declarations of the native relay (relay.c, loop.c, affinity.c, addon.c); see relay.c for
// the data path and loop.c for the threads and their locks.
#ifndef DOCKERLET_RELAY_H
#define DOCKERLET_RELAY_H
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>

/* One read's size, and so the most a stalled leg holds (its unsent bytes live in that read's buffer):
 * at most 2 × 256 KiB per connection whatever its reader does. */
#define READ_BUF (256 * 1024)
#define SPARE_BUFS 8
#define MAX_EVENTS 256
#define MAX_DIAL_STEPS 8
#define MAX_WORKERS 64
#define TICK_MS 25
#define IDLE_SWEEPS 4
#define ACCEPT_BATCH 64

enum { K_LISTENER = 1, K_LEG = 2 };
enum { S_CONNECTIONS, S_ACTIVE, S_BYTES_IN, S_BYTES_OUT, S_CONNECT_FAILURES, S_REJECTS, S_DROPS, S_ENDPOINT_CLOSES, S_IDLE, S_LISTENER_ERRORS, S_COUNT };
enum { HOW_CLOSE, HOW_RESET_CLIENT, HOW_RESET_BACKEND, HOW_RESET_BOTH };

typedef struct target {
  struct sockaddr_storage sa;
  socklen_t salen;
  char ip[INET6_ADDRSTRLEN];
  int port;
} target;

/* ClientIP session affinity: client address → its endpoint, open addressing with linear probing. */
typedef struct addrkey { uint8_t fam; uint8_t a[16]; } addrkey;
typedef struct aff { uint8_t used; addrkey k; target t; double last; } aff;
typedef struct afftable { aff *slots; uint32_t cap, used; } afftable;

struct conn;
struct listener;
struct worker;

typedef struct leg {
  uint8_t kind;
  int fd;
  struct conn *c;
  struct leg *peer;
  uint32_t events;
  unsigned eof : 1, shut : 1, shut_pending : 1, paused : 1;
  char *pend; /* a read buffer (READ_BUF) holding bytes from the peer not yet written to this leg: [poff, plen) */
  size_t plen, poff;
  double bytes; /* read from this leg */
} leg;

typedef struct conn {
  leg client, backend;
  struct lslot *s; /* its listener on its thread */
  struct worker *w;
  target t; /* the current (or last tried) endpoint */
  addrkey from; /* the client's address (set when the listener has affinity) */
  int attempt;
  unsigned connected : 1, finished : 1, dialing : 1;
  double dial_deadline;
  double idle_mark;
  int idle_sweeps;
  struct conn *prev, *next;   /* the slot's connections */
  struct conn *dprev, *dnext; /* the worker's dials in flight */
  struct conn *dead_next;
} conn;

/* A listener as one relay thread serves it: its copy of the endpoints, its connections, its counters.
 * Touched by that thread, and by JavaScript only under that thread's lock. */
typedef struct lslot {
  uint8_t kind; /* K_LISTENER: epoll events of the listening socket point here */
  int fd;       /* this thread's listening socket (one SO_REUSEPORT group per listener) */
  struct listener *l;
  struct worker *w;
  /* ready: endpoints were pushed once (a client never meets a listener without them); armed: the
   * listening socket is in this thread's epoll set; rearm_at: paused after an accept error. */
  int ready, armed, closed;
  double rearm_at;
  target *targets;
  int ntargets;
  double aff_ms, next_aff_purge; /* affinity timeout (0: none); the kernel sends new clients to the home thread then */
  afftable aff;
  double next_sweep;
  conn *head;
  double stats[S_COUNT];
  struct lslot *next, *dead_next;
} lslot;

/* A listener: one listening socket per thread in an SO_REUSEPORT group (each thread has its slot).
 * Fields other than the atomics and `steered` are set before the slots are published and never change. */
typedef struct listener {
  int id, port;
  int home;    /* the thread that serves it alone while it has ClientIP affinity */
  int steered; /* new clients steered to home (JavaScript's thread only) */
  double dial_ms[MAX_DIAL_STEPS];
  int ndial;
  double idle_ms;
  int max_conns;
  atomic_int nconns; /* over every thread, for max_conns */
  atomic_uint rr;    /* round robin over every thread */
  atomic_int refs;   /* slots not yet freed; the last one frees the listener */
  lslot **slots;     /* [nworkers] */
  struct listener *next; /* the engine's list, JavaScript's thread only */
} listener;

typedef struct worker {
  int index, efd, reserve_fd, stopping;
  pthread_t thread;
  /* Held by the thread while it handles one event, and by JavaScript to touch this thread's state. */
  pthread_mutex_t mu;
  /* JavaScript is waiting for mu: the thread hands it over between two events of a batch. */
  atomic_int want;
  lslot *slots;
  conn *dials;
  /* Ended since the thread last entered epoll_wait: freed after its next wait returns. */
  conn *dead;
  lslot *dead_slots;
  char *buf;                /* the read buffer (READ_BUF) */
  char *spare[SPARE_BUFS];  /* read buffers given back by legs, for reuse */
  int nspare;
} worker;

typedef struct engine {
  int inited, ids, nworkers;
  worker **w;
  /* Referenced while listeners exist: keeps Node's loop (the process) alive, as a net.Server does. */
  uv_async_t keepalive;
  listener *listeners;
} engine;

extern engine E;

/* relay.c: the data path, on the connection's thread with its lock held */
double now_ms(void);
void teardown(conn *c, int how);
void redial(conn *c);
void dial(conn *c);
void dial_failed(conn *c);
void on_leg(leg *g, uint32_t ev);

/* loop.c: the relay threads */
int engine_start(int threads);
void engine_stop(void);
void worker_lock(worker *w);
void worker_unlock(worker *w);
int slot_should_serve(const lslot *s);
void slot_arm(lslot *s, int on);
void slot_free(lslot *s);

/* sockets.c: a listener's SO_REUSEPORT group */
int group_open(const struct sockaddr_storage *sa, socklen_t salen, int backlog, int n, int *fds);
int group_steer(int fd, int index);

/* affinity.c: ClientIP affinity tables */
aff *aff_slot(afftable *t, const addrkey *k, int insert);
void aff_clear(afftable *t);
void aff_rebuild(afftable *t, int (*keep)(const aff *, const void *), const void *arg);
void aff_put(afftable *t, const addrkey *k, const target *tg, double now);
int aff_target_present(const aff *a, const void *arg);
int aff_fresh(const aff *a, const void *arg);

#endif
