// A listener's listening sockets: one per relay thread, bound to the same address and port in an
// SO_REUSEPORT group (as nginx's `listen ... reuseport`), so the kernel spreads new clients over the
// threads by the hash of their address; and the steering of every new client to one thread while
// the listener has ClientIP affinity (kube-proxy's sessionAffinity), by a classic BPF program on the
// group (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5+) whose one instruction returns that thread's index.
#include "relay.h"
#include <linux/filter.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

static int open_one(const struct sockaddr_storage *sa, socklen_t salen, int backlog, int reuseport) {
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
  if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      bind(fd, (const struct sockaddr *)sa, salen) < 0 || listen(fd, backlog) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* Opens n listening sockets on sa (port 0: the kernel picks one for the first, the others join it),
 * in the group's order 0..n-1 (the index a steering program returns). Returns the bound port, or
 * -errno with every socket closed. */
int group_open(const struct sockaddr_storage *sa, socklen_t salen, int backlog, int n, int *fds) {
  struct sockaddr_storage at = *sa;
  int port = 0;
  for (int k = 0; k < n; k++) {
    int fd = open_one(&at, salen, backlog, n > 1);
    if (fd < 0) {
      while (k--) close(fds[k]);
      return fd;
    }
    fds[k] = fd;
    if (k) continue;
    struct sockaddr_storage got;
    socklen_t glen = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &glen);
    port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port : ((struct sockaddr_in *)&got)->sin_port);
    if (at.ss_family == AF_INET6) ((struct sockaddr_in6 *)&at)->sin6_port = htons(port);
    else ((struct sockaddr_in *)&at)->sin_port = htons(port);
  }
  return port;
}

/* Steers the group's new clients to socket `index`, or (index < 0) back to the address hash: the
 * program then returns an index past the group's end, which the kernel answers with the hash. */
int group_steer(int fd, int index) {
  struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, index < 0 ? 0xffffffffu : (uint32_t)index) };
  struct sock_fprog prog = { .len = 1, .filter = code };
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) < 0 ? -errno : 0;
}
