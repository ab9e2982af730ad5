// Shared declarations of the native relay (relay.c, affinity.c, addon.c); see relay.c for what it does.
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
  struct listener *l;
  target t; /* the current (or last tried) endpoint */
  addrkey from; /* the client's address (set when the listener has affinity) */
  int attempt;
  unsigned connected : 1, finished : 1, dialing : 1;
  double dial_deadline;
  double idle_mark;
  int idle_sweeps;
  struct conn *prev, *next;   /* listener's connections */
  struct conn *dprev, *dnext; /* engine's dials in flight */
  struct conn *dead_next;
} conn;

typedef struct listener {
  uint8_t kind;
  int id, fd, port, closed;
  /* In the epoll set: from the first setTargets (a client never meets a listener without its
   * endpoints), and again after an accept error's pause (rearm_at). */
  int ready, armed;
  double rearm_at;
  target *targets;
  int ntargets, rr;
  double dial_ms[MAX_DIAL_STEPS];
  int ndial;
  double idle_ms, next_sweep;
  double aff_ms, next_aff_purge; /* affinity timeout (0: none) */
  afftable aff;
  int max_conns, nconns;
  conn *head;
  double stats[S_COUNT];
  struct listener *next, *dead_next;
} listener;

typedef struct engine {
  int efd, reserve_fd, ids, inited, stopping;
  pthread_t thread;
  /* Held by the relay thread while it handles one event, and by every call from JavaScript. */
  pthread_mutex_t mu;
  /* JavaScript is waiting for mu: the relay thread hands it over between two events of a batch. */
  atomic_int want;
  /* Referenced while listeners exist: keeps Node's loop (the process) alive, as a net.Server does. */
  uv_async_t keepalive;
  listener *listeners;
  conn *dials;
  /* Ended since the relay thread last entered epoll_wait: freed after its next wait returns. */
  conn *dead;
  listener *dead_listeners;
  char *buf;                /* the read buffer (READ_BUF) */
  char *spare[SPARE_BUFS];  /* read buffers given back by legs, for reuse */
  int nspare;
} engine;

extern engine E;

/* relay.c: the event loop and the data path */
double now_ms(void);
void teardown(conn *c, int how);
void listener_arm(listener *l, int on);
void *relay_main(void *arg);
void redial(conn *c);
void engine_lock(void);
void engine_unlock(void);

/* affinity.c: ClientIP affinity tables */
aff *aff_slot(afftable *t, const addrkey *k, int insert);
void aff_clear(afftable *t);
void aff_rebuild(afftable *t, int (*keep)(const aff *, const void *), const void *arg);
void aff_put(afftable *t, const addrkey *k, const target *tg, double now);
int aff_target_present(const aff *a, const void *arg);
int aff_fresh(const aff *a, const void *arg);

#endif
