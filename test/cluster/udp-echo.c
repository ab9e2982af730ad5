/* A tiny UDP echo for the multi-node bed's tests (busybox's nc has no -u here).
 *   udp-echo serve PORT          answers every datagram with "udp <hostname> from <peer>"
 *   udp-echo ask HOST PORT [S]   sends one datagram, prints the answer; exit 1 after S seconds (default 3)
 * Built static by test/cluster/images.ts into the image dockerlet/udp-echo. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int serve(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
  char host[128] = "?";
  gethostname(host, sizeof host - 1);
  for (;;) {
    char buf[512], out[700];
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &pl);
    if (n < 0) continue;
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    int m = snprintf(out, sizeof out, "udp %s from %s\n", host, ip);
    sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&peer, pl);
  }
}

static int ask(const char *host, int port, int secs) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); return 2; }
  struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (int i = 0; i < secs; i++) { /* one datagram a second until an answer comes */
    if (sendto(fd, "ping\n", 5, 0, (struct sockaddr *)&a, sizeof a) < 0) { perror("sendto"); }
    char buf[700];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n > 0) { buf[n] = 0; fputs(buf, stdout); return 0; }
  }
  fprintf(stderr, "no answer from %s:%d in %d s\n", host, port, secs);
  return 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(atoi(argv[2]));
  if ((argc == 4 || argc == 5) && strcmp(argv[1], "ask") == 0) return ask(argv[2], atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 3);
  fprintf(stderr, "usage: udp-echo serve PORT | udp-echo ask HOST PORT [SECONDS]\n");
  return 2;
}
