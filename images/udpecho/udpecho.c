/* A UDP echo server for the proxy's end-to-end tests: every datagram is answered with
 * "<hostname> <payload>" to its sender. Usage: udpecho [port] (default 5353). Static, no libc
 * resolver; SIGTERM/SIGINT end it at once.
 * Client mode: udpecho ask IPv4 PORT TEXT sends TEXT from a connected socket and prints the reply,
 * or "error <errno name>" (ECONNREFUSED after an ICMP port unreachable), or "timeout" after 3 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }

static int ask(const char *ip, int port, const char *text) {
  char buf[2400];
  struct sockaddr_in to;
  struct timeval tv = {3, 0};
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons((unsigned short)port);
  if (fd < 0 || inet_pton(AF_INET, ip, &to.sin_addr) != 1) { puts("error EINVAL"); return 2; }
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 || send(fd, text, strlen(text), 0) < 0) {
    printf("error %s\n", errno == ECONNREFUSED ? "ECONNREFUSED" : strerror(errno));
    return 1;
  }
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  if (n < 0) {
    puts(errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : errno == ECONNREFUSED ? "error ECONNREFUSED" : strerror(errno));
    return 1;
  }
  buf[n] = 0;
  puts(buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "ask") == 0) return ask(argv[2], atoi(argv[3]), argv[4]);
  int port = argc > 1 ? atoi(argv[1]) : 5353;
  char host[256] = "unknown";
  char in[2048], out[2400];
  struct sockaddr_in addr;
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  gethostname(host, sizeof host - 1);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); return 1; }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
  fprintf(stderr, "udpecho %s listening on %d\n", host, port);
  for (;;) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &len);
    if (n < 0) continue;
    int m = snprintf(out, sizeof out, "%s %.*s", host, (int)n, in);
    if (m > (int)sizeof out) m = sizeof out;
    sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&from, len);
  }
}
