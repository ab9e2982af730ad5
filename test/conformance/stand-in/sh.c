// /bin/sh of the conformance busybox stand-in. Upstream's busybox image (1.37) passes environment
// variables whose names are not shell identifiers (data-1=...) on to its children; Debian's busybox-static
// 1.35 ash drops them ("ConfigMap/Secrets should be consumable via the environment" run `sh -c env`).
// Everything else must stay busybox ash (its messages, e.g. "/bin/sh: can't create /file: Read-only file
// system", are what other specs compare). So: bash when such a name is in the environment, else busybox.
#include <string.h>
#include <unistd.h>

extern char **environ;

static int is_identifier(const char *entry) {
  const char *eq = strchr(entry, '=');
  if (eq == NULL || eq == entry) return 1;
  for (const char *p = entry; p < eq; p++) {
    char c = *p;
    int ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (p > entry && c >= '0' && c <= '9');
    if (!ok) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  (void)argc;
  for (char **e = environ; *e != NULL; e++) {
    if (!is_identifier(*e)) {
      execv("/usr/lib/stand-in/bash", argv);
      break;
    }
  }
  execv("/bin/busybox", argv);
  return 127;
}
