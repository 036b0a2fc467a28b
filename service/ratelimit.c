#include "service/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct rl_slot {
  uint64_t key; /* the key's hash; 0: free */
  int64_t tat;  /* GCRA: when the bucket is full again; each request adds one interval */
};

/* One set per cache-line-aligned block: its lock and its slots together. */
struct rl_set {
  pthread_mutex_t mu;
  struct rl_slot slot[RL_WAYS];
} __attribute__((aligned(64)));

struct ratelimit {
  int64_t interval_ns; /* time to earn one token back: 1 s / rate */
  int64_t window_ns;   /* burst * interval: how far ahead of now tat may run */
  uint64_t seed;
  size_t mask; /* number of sets - 1 */
  struct rl_set *sets;
};

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* Seeded, 8 bytes a step: a 36-byte sub costs five multiplications. */
static uint64_t hash(uint64_t seed, const unsigned char *p, size_t len) {
  uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    h = (h << 29) | (h >> 35);
  }
  uint64_t w = 0;
  memcpy(&w, p, len);
  h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
  h = mix(h);
  return h ? h : 1;
}

struct ratelimit *ratelimit_new(long rate, long burst, size_t slots) {
  if (rate < 1 || rate > 1000000 || burst < 1 || burst > 1000000) return NULL;
  size_t nsets = 1;
  while (nsets * RL_WAYS < slots && nsets < ((size_t)1 << 24)) nsets <<= 1;
  struct ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  rl->sets = aligned_alloc(_Alignof(struct rl_set), nsets * sizeof *rl->sets);
  if (!rl->sets) {
    free(rl);
    return NULL;
  }
  memset(rl->sets, 0, nsets * sizeof *rl->sets);
  for (size_t i = 0; i < nsets; i++) pthread_mutex_init(&rl->sets[i].mu, NULL);
  rl->mask = nsets - 1;
  rl->interval_ns = 1000000000LL / rate;
  rl->window_ns = rl->interval_ns * burst;
  if (getrandom(&rl->seed, sizeof rl->seed, 0) != (ssize_t)sizeof rl->seed)
    rl->seed = (uint64_t)ratelimit_now_ns() * 0x9e3779b97f4a7c15ULL;
  return rl;
}

void ratelimit_free(struct ratelimit *rl) {
  if (!rl) return;
  for (size_t i = 0; i <= rl->mask; i++) pthread_mutex_destroy(&rl->sets[i].mu);
  free(rl->sets);
  free(rl);
}

int64_t ratelimit_take(struct ratelimit *rl, const void *key, size_t len, int64_t now_ns) {
  uint64_t h = hash(rl->seed, key, len);
  struct rl_set *set = &rl->sets[(h >> 32) & rl->mask];
  pthread_mutex_lock(&set->mu);
  struct rl_slot *s = NULL, *fullest = &set->slot[0];
  for (int i = 0; i < RL_WAYS; i++) {
    struct rl_slot *c = &set->slot[i];
    if (c->key == h) {
      s = c;
      break;
    }
    if (c->key == 0 || (fullest->key != 0 && c->tat < fullest->tat)) fullest = c;
  }
  if (!s) { /* a key not seen lately: its bucket is full */
    s = fullest;
    s->key = h;
    s->tat = now_ns;
  }
  int64_t tat = s->tat > now_ns ? s->tat : now_ns;
  int64_t wait = tat + rl->interval_ns - rl->window_ns - now_ns;
  if (wait <= 0) s->tat = tat + rl->interval_ns;
  pthread_mutex_unlock(&set->mu);
  return wait > 0 ? wait : 0;
}

long ratelimit_retry_after_s(int64_t wait_ns) {
  long s = (long)((wait_ns + 999999999LL) / 1000000000LL);
  return s < 1 ? 1 : s;
}

int64_t ratelimit_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
