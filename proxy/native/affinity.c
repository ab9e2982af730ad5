// ClientIP session affinity for the native relay: client address → endpoint, open addressing with
// linear probing and tombstones; rebuilt (smaller, without tombstones) when it fills up or is purged.
#include "relay.h"

static uint32_t key_hash(const addrkey *k) {
  uint32_t h = 2166136261u ^ k->fam;
  for (int i = 0; i < 16; i++) h = (h ^ k->a[i]) * 16777619u;
  return h;
}

aff *aff_slot(afftable *t, const addrkey *k, int insert) {
  if (!t->cap) return NULL;
  aff *tomb = NULL;
  for (uint32_t i = key_hash(k) & (t->cap - 1), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
    aff *a = &t->slots[i];
    if (a->state == 0) return insert ? (tomb ? tomb : a) : NULL;
    if (a->state == 2) { if (!tomb) tomb = a; continue; }
    if (memcmp(&a->k, k, sizeof *k) == 0) return a;
  }
  return insert ? tomb : NULL;
}

void aff_clear(afftable *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

/* Keeps the entries for which keep(entry) is true, in a table sized for them. */
void aff_rebuild(afftable *t, uint32_t cap, int (*keep)(const aff *, const void *), const void *arg) {
  afftable n = { .slots = calloc(cap, sizeof(aff)), .cap = cap };
  if (!n.slots) return;
  for (uint32_t i = 0; i < t->cap; i++) {
    aff *a = &t->slots[i];
    if (a->state != 1 || (keep && !keep(a, arg))) continue;
    aff *b = aff_slot(&n, &a->k, 1);
    *b = *a;
    n.used++;
  }
  free(t->slots);
  *t = n;
}

void aff_put(afftable *t, const addrkey *k, const target *tg, double now) {
  if ((t->used + t->deleted + 1) * 2 > t->cap) aff_rebuild(t, t->cap ? (t->used * 4 > t->cap ? t->cap * 2 : t->cap) : 64, NULL, NULL);
  aff *a = aff_slot(t, k, 1);
  if (!a) return;
  if (a->state != 1) { if (a->state == 2) t->deleted--; t->used++; a->state = 1; a->k = *k; }
  a->t = *tg;
  a->last = now;
}

static int same_target(const target *a, const target *b) {
  return a->port == b->port && strcmp(a->ip, b->ip) == 0;
}

int aff_target_present(const aff *a, const void *arg) {
  const listener *l = arg;
  for (int i = 0; i < l->ntargets; i++) if (same_target(&a->t, &l->targets[i])) return 1;
  return 0;
}

int aff_fresh(const aff *a, const void *arg) {
  const double *bounds = arg; /* { now, ttl } */
  return bounds[0] - a->last < bounds[1];
}

