// ClientIP session affinity for the native relay: client address → endpoint, open addressing with
// linear probing. Entries are only ever dropped by a rebuild (purge, endpoint change), which sizes
// the table for what it keeps; it grows when half full.
#include "relay.h"

static uint32_t key_hash(const addrkey *k) {
  uint32_t h = 2166136261u ^ k->fam;
  for (int i = 0; i < 16; i++) h = (h ^ k->a[i]) * 16777619u;
  return h;
}

aff *aff_slot(afftable *t, const addrkey *k, int insert) {
  if (!t->cap) return NULL;
  for (uint32_t i = key_hash(k) & (t->cap - 1), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
    aff *a = &t->slots[i];
    if (!a->used) return insert ? a : NULL;
    if (memcmp(&a->k, k, sizeof *k) == 0) return a;
  }
  return NULL;
}

void aff_clear(afftable *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

/* Keeps the entries for which keep(entry) is true (all without keep, plus room for one more), in a
 * table at most a quarter full. */
void aff_rebuild(afftable *t, int (*keep)(const aff *, const void *), const void *arg) {
  uint32_t kept = 0, cap = 64;
  for (uint32_t i = 0; i < t->cap; i++) if (t->slots[i].used && (!keep || keep(&t->slots[i], arg))) kept++;
  while (cap < (kept + 1) * 4) cap *= 2;
  afftable n = { .slots = calloc(cap, sizeof(aff)), .cap = cap };
  if (!n.slots) return;
  for (uint32_t i = 0; i < t->cap; i++) {
    aff *a = &t->slots[i];
    if (!a->used || (keep && !keep(a, arg))) continue;
    aff *b = aff_slot(&n, &a->k, 1);
    *b = *a;
    n.used++;
  }
  free(t->slots);
  *t = n;
}

void aff_put(afftable *t, const addrkey *k, const target *tg, double now) {
  if ((t->used + 1) * 2 > t->cap) aff_rebuild(t, NULL, NULL);
  aff *a = aff_slot(t, k, 1);
  if (!a) return;
  if (!a->used) { t->used++; a->used = 1; a->k = *k; }
  a->t = *tg;
  a->last = now;
}

static int same_target(const target *a, const target *b) {
  return a->port == b->port && strcmp(a->ip, b->ip) == 0;
}

int aff_target_present(const aff *a, const void *arg) {
  const lslot *s = arg;
  for (int i = 0; i < s->ntargets; i++) if (same_target(&a->t, &s->targets[i])) return 1;
  return 0;
}

int aff_fresh(const aff *a, const void *arg) {
  const double *bounds = arg; /* { now, ttl } */
  return bounds[0] - a->last < bounds[1];
}

