/* service/ratelimit.c: the per-subject token bucket, driven by a fake clock. */
#include "tests/unit/unit.h"

#include <pthread.h>
#include <stdio.h>

#include "service/ratelimit.h"

#define SEC 1000000000LL
#define T0 (1000 * SEC) /* any start: the clock is monotonic, not wall time */

static int64_t take(struct ratelimit *rl, const char *key, int64_t now) {
  return ratelimit_take(rl, key, strlen(key), now);
}

static void bad_arguments(void **state) {
  (void)state;
  assert_null(ratelimit_new(0, 10, 64));
  assert_null(ratelimit_new(5, 0, 64));
  assert_null(ratelimit_new(-1, 10, 64));
  assert_null(ratelimit_new(1000001, 10, 64));
  assert_null(ratelimit_new(5, 1000001, 64));
  struct ratelimit *rl = ratelimit_new(1000000, 1000000, 0);
  assert_non_null(rl);
  ratelimit_free(rl);
  ratelimit_free(NULL);
}

static void burst_then_refused_then_refilled(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(5, 10, 1024); /* a token back every 200 ms */
  assert_non_null(rl);
  for (int i = 0; i < 10; i++) assert_int_equal(take(rl, "alice", T0), 0);
  int64_t wait = take(rl, "alice", T0);
  assert_int_equal(wait, SEC / 5);
  assert_int_equal(take(rl, "alice", T0 + SEC / 10), SEC / 10); /* refused again, half the wait left */
  assert_int_equal(take(rl, "alice", T0 + SEC / 5 - 1), 1);
  assert_int_equal(take(rl, "alice", T0 + SEC / 5), 0); /* one token back */
  assert_true(take(rl, "alice", T0 + SEC / 5) > 0);
  /* a steady 5 per second is always served */
  for (int i = 2; i < 50; i++) assert_int_equal(take(rl, "alice", T0 + i * SEC / 5), 0);
  /* idle long enough, the whole burst is back, and no more */
  int64_t later = T0 + 100 * SEC;
  for (int i = 0; i < 10; i++) assert_int_equal(take(rl, "alice", later), 0);
  assert_true(take(rl, "alice", later) > 0);
  ratelimit_free(rl);
}

static void a_refused_request_takes_nothing(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(1, 1, 64);
  assert_int_equal(take(rl, "bob", T0), 0);
  for (int i = 1; i < 1000; i++) assert_true(take(rl, "bob", T0 + i * 1000000LL) > 0); /* 1 ms apart */
  assert_int_equal(take(rl, "bob", T0 + SEC), 0); /* hammering did not push the refill back */
  ratelimit_free(rl);
}

static void subjects_are_independent(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(5, 5, 65536);
  for (int i = 0; i < 5; i++) assert_int_equal(take(rl, "30000000-0000-4000-8000-000000000001", T0), 0);
  assert_true(take(rl, "30000000-0000-4000-8000-000000000001", T0) > 0);
  for (int i = 0; i < 5; i++) assert_int_equal(take(rl, "30000000-0000-4000-8000-000000000002", T0), 0);
  /* keys of other lengths (client addresses) are other keys too */
  unsigned char v4[4] = {127, 0, 0, 1}, v6[16] = {0};
  assert_int_equal(ratelimit_take(rl, v4, sizeof v4, T0), 0);
  assert_int_equal(ratelimit_take(rl, v6, sizeof v6, T0), 0);
  assert_int_equal(ratelimit_take(rl, "", 0, T0), 0);
  ratelimit_free(rl);
}

static void retry_after_is_whole_seconds_at_least_one(void **state) {
  (void)state;
  assert_int_equal(ratelimit_retry_after_s(1), 1);
  assert_int_equal(ratelimit_retry_after_s(SEC / 5), 1);
  assert_int_equal(ratelimit_retry_after_s(SEC), 1);
  assert_int_equal(ratelimit_retry_after_s(SEC + 1), 2);
  assert_int_equal(ratelimit_retry_after_s(0), 1);
  assert_int_equal(ratelimit_retry_after_s(3600 * SEC), 3600);
}

/* One set of RL_WAYS slots: every key competes for the same slots. */
static void a_new_key_evicts_the_fullest_bucket(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(1, 10, RL_WAYS);
  char key[16];
  /* key i spends i + 1 tokens: key 7 is the emptiest bucket, key 0 the fullest */
  for (int i = 0; i < RL_WAYS; i++) {
    snprintf(key, sizeof key, "k%d", i);
    for (int j = 0; j <= i; j++) assert_int_equal(take(rl, key, T0), 0);
  }
  assert_int_equal(take(rl, "newcomer", T0), 0); /* takes key 0's slot */
  /* key 7 is still remembered: 10 - 8 = 2 tokens left */
  assert_int_equal(take(rl, "k7", T0), 0);
  assert_int_equal(take(rl, "k7", T0), 0);
  assert_true(take(rl, "k7", T0) > 0);
  /* key 0 was forgotten: it gets a full bucket again (it had 9 of 10) */
  for (int j = 0; j < 10; j++) assert_int_equal(take(rl, "k0", T0), 0);
  ratelimit_free(rl);
}

static void memory_stays_bounded(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(1, 1, 64);
  char key[32];
  for (int i = 0; i < 200000; i++) {
    snprintf(key, sizeof key, "subject-%d", i);
    assert_int_equal(take(rl, key, T0 + i), 0);
  }
  /* the most recent keys are remembered (their buckets are the emptiest) */
  assert_true(take(rl, "subject-199999", T0 + 200000) > 0);
  ratelimit_free(rl);
}

struct racer {
  struct ratelimit *rl;
  int served;
};

static void *race(void *arg) {
  struct racer *r = arg;
  for (int i = 0; i < 20000; i++)
    if (take(r->rl, "shared", T0) == 0) r->served++;
  return NULL;
}

static void concurrent_takers_share_one_bucket(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(1, 1000, 1024);
  struct racer rs[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    rs[i] = (struct racer){rl, 0};
    assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
  }
  int served = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    served += rs[i].served;
  }
  assert_int_equal(served, 1000); /* exactly the burst, not one more */
  ratelimit_free(rl);
}

/* The check is on every request's path: a few tens of nanoseconds. */
static void a_check_is_cheap(void **state) {
  (void)state;
  struct ratelimit *rl = ratelimit_new(1000000, 1000000, 65536);
  char keys[1024][37];
  for (int i = 0; i < 1024; i++) snprintf(keys[i], sizeof keys[i], "30000000-0000-4000-8000-%012d", i);
  int n = 2000000;
  int64_t t0 = ratelimit_now_ns();
  for (int i = 0; i < n; i++) ratelimit_take(rl, keys[i & 1023], 36, t0 + i);
  int64_t per = (ratelimit_now_ns() - t0) / n;
  printf("# ratelimit_take: %lld ns per check\n", (long long)per);
  assert_true(per < 1000); /* well under a microsecond even under sanitizers */
  ratelimit_free(rl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(bad_arguments),
    cmocka_unit_test(burst_then_refused_then_refilled),
    cmocka_unit_test(a_refused_request_takes_nothing),
    cmocka_unit_test(subjects_are_independent),
    cmocka_unit_test(retry_after_is_whole_seconds_at_least_one),
    cmocka_unit_test(a_new_key_evicts_the_fullest_bucket),
    cmocka_unit_test(memory_stays_bounded),
    cmocka_unit_test(concurrent_takers_share_one_bucket),
    cmocka_unit_test(a_check_is_cheap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
