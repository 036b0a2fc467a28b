/* A per-subject rate limit (KOPPEL_RATE_LIMIT, KOPPEL_RATE_BURST): a token
 * bucket per key (a token's sub, or a client address), kept as GCRA's one
 * "theoretical arrival time" per key, so a check is a hash, a lock of one
 * small set and a few integer operations (tens of nanoseconds).
 *
 * Memory is fixed at creation: slots are grouped in sets of RL_WAYS, each
 * with its own mutex (no global lock). A key lives in the set its hash
 * picks; a new key takes the slot whose bucket is the fullest (the one whose
 * state forgives the least when forgotten; a refilled bucket is the same as
 * no entry). Keys are known by a seeded 64-bit hash only: two keys with the
 * same hash would share a bucket. The clock is passed in, so tests can
 * drive it. */
#ifndef KOPPEL_RATELIMIT_H
#define KOPPEL_RATELIMIT_H
#include <stddef.h>
#include <stdint.h>

#define RL_WAYS 8

struct ratelimit;

/* rate: requests per second per key, 1..1000000; burst: the bucket size,
 * 1..1000000; slots: how many keys are remembered (rounded up to a power of
 * two, at least RL_WAYS). NULL on bad arguments or out of memory. */
struct ratelimit *ratelimit_new(long rate, long burst, size_t slots);
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from key's bucket at now_ns (a monotonic clock in
 * nanoseconds). Returns 0 when the request may go ahead; otherwise nothing
 * is taken and the result is the nanoseconds until a token is back (> 0). */
int64_t ratelimit_take(struct ratelimit *rl, const void *key, size_t len, int64_t now_ns);

/* A wait in nanoseconds as Retry-After seconds: rounded up, at least 1. */
long ratelimit_retry_after_s(int64_t wait_ns);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t ratelimit_now_ns(void);
#endif
