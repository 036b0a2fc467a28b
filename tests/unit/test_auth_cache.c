/* service/auth.c: the verified-token cache. A token that passed is kept and
 * reused only under the same settings, with the time checks (exp, nbf,
 * leeway) redone on every use exactly as the uncached path does them;
 * refusals are never kept; a hit is a copy the caller owns; threads share it. */
#include "tests/unit/unit.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "service/auth.h"

#define SECRET "unit-test-hs256-secret-0123456789abcdef"
#define NOW 1700000000L
#define SUB "123e4567-e89b-12d3-a456-426614174000"
#define P1 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define PARTNER "0f0f0f0f-1111-2222-3333-444444444444"
#define REST "\"sub\":\"" SUB "\",\"role\":\"mentor\",\"prg\":[\"" P1 "\"]"

static char *rsa_priv, *rsa_pub, *rsa2_pub;

static char *pem_of(EVP_PKEY *k, bool private_key) {
  BIO *bio = BIO_new(BIO_s_mem());
  assert_non_null(bio);
  int ok = private_key ? PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)
                       : PEM_write_bio_PUBKEY(bio, k);
  assert_int_equal(ok, 1);
  char *data = NULL;
  long n = BIO_get_mem_data(bio, &data);
  char *s = strndup(data, (size_t)n);
  BIO_free(bio);
  return s;
}

static int keys_setup(void **state) {
  (void)state;
  EVP_PKEY *rsa = EVP_RSA_gen(2048), *rsa2 = EVP_RSA_gen(2048);
  if (!rsa || !rsa2) return -1;
  rsa_priv = pem_of(rsa, true);
  rsa_pub = pem_of(rsa, false);
  rsa2_pub = pem_of(rsa2, false);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(rsa2);
  return 0;
}

static int keys_teardown(void **state) {
  (void)state;
  free(rsa_priv);
  free(rsa_pub);
  free(rsa2_pub);
  auth_cache_clear(); /* nothing left for LeakSanitizer to wonder about */
  return 0;
}

static int clear(void **state) {
  (void)state;
  auth_cache_clear();
  return 0;
}

static char *sign(jwt_alg_t alg, const char *key, const char *claims) {
  jwt_t *jwt = NULL;
  assert_int_equal(jwt_new(&jwt), 0);
  assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
  assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
  char *tok = jwt_encode_str(jwt);
  jwt_free(jwt);
  assert_non_null(tok);
  return tok;
}

static struct config rs_config(void) {
  struct config c;
  memset(&c, 0, sizeof c);
  c.jwt_alg = CFG_RS256;
  c.jwt_public_key = rsa_pub;
  c.jwt_leeway = 60;
  return c;
}

static struct config hs_config(void) {
  struct config c;
  memset(&c, 0, sizeof c);
  c.jwt_alg = CFG_HS256;
  c.jwt_secret = (char *)SECRET;
  c.jwt_leeway = 60;
  return c;
}

/* auth_verify at time now: 0 or the refusal's reason. */
static const char *check_at(const struct config *cfg, const char *tok, time_t now) {
  struct claims c;
  const char *why = NULL;
  int rc = auth_verify(cfg, tok, now, &c, &why);
  assert_non_null(why);
  if (rc != 0) return why;
  claims_free(&c);
  return NULL;
}

static void expect_ok_at(const struct config *cfg, const char *tok, time_t now) {
  const char *why = check_at(cfg, tok, now);
  if (why) fail_msg("refused at %ld: %s", (long)now, why);
}

static void expect_refused_at(const struct config *cfg, const char *tok, time_t now, const char *reason) {
  const char *why = check_at(cfg, tok, now);
  if (!why) fail_msg("accepted at %ld, expected: %s", (long)now, reason ? reason : "a refusal");
  if (reason && !strstr(why, reason)) fail_msg("refused for \"%s\", expected \"%s\"", why, reason);
}

static void expect_stats(unsigned long hits, unsigned long misses) {
  unsigned long h, m;
  auth_cache_stats(&h, &m);
  if (h != hits || m != misses) fail_msg("hits %lu misses %lu, expected %lu and %lu", h, m, hits, misses);
}

/* ------------------------------------------------------------------ tests */

static void second_use_is_a_hit_with_the_same_claims(void **state) {
  (void)state;
  struct config cfg = rs_config();
  char *tok = sign(JWT_ALG_RS256, rsa_priv,
                   "{\"exp\":1700003600,\"sub\":\"" SUB "\",\"role\":\"integration\",\"prg\":[\"" P1
                   "\"],\"partner\":\"" PARTNER "\"}");
  struct claims a, b;
  const char *why = NULL;
  assert_int_equal(auth_verify(&cfg, tok, NOW, &a, &why), 0);
  expect_stats(0, 1);
  assert_int_equal(auth_verify(&cfg, tok, NOW, &b, &why), 0);
  expect_stats(1, 1);
  assert_string_equal(b.sub, a.sub);
  assert_int_equal(b.role, ROLE_INTEGRATION);
  assert_int_equal(b.prg_all, a.prg_all);
  assert_int_equal(b.prg_count, 1);
  assert_string_equal(b.prg_pg, "{" P1 "}");
  assert_string_equal(b.partner, PARTNER);
  /* each caller owns its copy: changing and freeing one leaves the next intact */
  assert_ptr_not_equal(a.prg_pg, b.prg_pg);
  b.prg_pg[1] = 'X';
  claims_free(&b);
  claims_free(&a);
  assert_int_equal(auth_verify(&cfg, tok, NOW, &a, &why), 0);
  assert_string_equal(a.prg_pg, "{" P1 "}");
  claims_free(&a);
  expect_stats(2, 1);
  free(tok);
}

/* exp + leeway bounds a cached token exactly as an uncached one, under the
 * leeway configured at the time of use. */
static void expiry_is_checked_on_every_use(void **state) {
  (void)state;
  struct config cfg = rs_config();
  char *tok = sign(JWT_ALG_RS256, rsa_priv, "{\"exp\":1700000100," REST "}");
  expect_ok_at(&cfg, tok, NOW);
  expect_ok_at(&cfg, tok, NOW + 160);                           /* exp + leeway: still good */
  expect_refused_at(&cfg, tok, NOW + 161, "the token has expired"); /* one second later */
  cfg.jwt_leeway = 0;
  expect_refused_at(&cfg, tok, NOW + 101, "the token has expired");
  expect_ok_at(&cfg, tok, NOW + 100);
  expect_stats(4, 1);
  /* the uncached path says the same */
  auth_cache_clear();
  cfg.jwt_leeway = 60;
  expect_refused_at(&cfg, tok, NOW + 161, "the token has expired");
  expect_stats(0, 1);
  free(tok);
}

static void nbf_is_checked_on_every_use(void **state) {
  (void)state;
  struct config cfg = rs_config();
  char *tok = sign(JWT_ALG_RS256, rsa_priv, "{\"exp\":1700003600,\"nbf\":1700000100," REST "}");
  /* not valid yet: refused, and a refusal is not kept */
  expect_refused_at(&cfg, tok, NOW, "not valid yet");
  expect_refused_at(&cfg, tok, NOW, "not valid yet");
  expect_stats(0, 2);
  expect_ok_at(&cfg, tok, NOW + 40); /* nbf - leeway */
  expect_stats(0, 3);
  /* cached now; an earlier clock (or a smaller leeway) refuses it again */
  expect_refused_at(&cfg, tok, NOW + 39, "not valid yet");
  cfg.jwt_leeway = 0;
  expect_refused_at(&cfg, tok, NOW + 99, "not valid yet");
  expect_ok_at(&cfg, tok, NOW + 100);
  expect_stats(3, 3);
  free(tok);
}

/* The entry holds for the settings it was verified under: another key,
 * algorithm, issuer or audience verifies from scratch (and refuses). */
static void other_settings_never_hit(void **state) {
  (void)state;
  struct config cfg = rs_config();
  char *tok = sign(JWT_ALG_RS256, rsa_priv, "{\"exp\":1700003600," REST "}");
  expect_ok_at(&cfg, tok, NOW);
  expect_ok_at(&cfg, tok, NOW);
  expect_stats(1, 1);

  struct config other = cfg;
  other.jwt_public_key = rsa2_pub;
  expect_refused_at(&other, tok, NOW, "signature");
  other = cfg;
  other.jwt_issuer = (char *)"https://idp.example";
  expect_refused_at(&other, tok, NOW, "issuer");
  other = cfg;
  other.jwt_audience = (char *)"koppel";
  expect_refused_at(&other, tok, NOW, "audience");
  other = cfg;
  other.jwt_alg = CFG_ES256;
  expect_refused_at(&other, tok, NOW, NULL);
  other = hs_config();
  expect_refused_at(&other, tok, NOW, NULL);
  /* a key with no text at all is refused before the cache is asked */
  other = cfg;
  other.jwt_public_key = NULL;
  expect_refused_at(&other, tok, NOW, "no verification key");
  expect_stats(1, 6);
  /* and the original settings still find it */
  expect_ok_at(&cfg, tok, NOW);
  expect_stats(2, 6);
  free(tok);
}

/* The whole token is compared: a token that differs from a cached one in one
 * character of its signature, or carries the same signature over other
 * claims, is verified (and refused). */
static void only_the_exact_token_hits(void **state) {
  (void)state;
  struct config cfg = rs_config();
  char *tok = sign(JWT_ALG_RS256, rsa_priv, "{\"exp\":1700003600," REST "}");
  expect_ok_at(&cfg, tok, NOW);
  size_t n = strlen(tok);
  char *t = strdup(tok);
  t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
  expect_refused_at(&cfg, t, NOW, "signature");
  strcpy(t, tok);
  t[n - 1] = 0; /* one character shorter */
  expect_refused_at(&cfg, t, NOW, NULL);
  /* the same signature after another payload */
  char *coord = sign(JWT_ALG_RS256, rsa_priv,
                     "{\"exp\":1700003600,\"sub\":\"" SUB "\",\"role\":\"coordinator\",\"prg\":\"*\"}");
  char *mix = malloc(strlen(coord) + n + 1);
  assert_non_null(mix);
  size_t head = (size_t)(strrchr(coord, '.') - coord);
  memcpy(mix, coord, head);
  strcpy(mix + head, strrchr(tok, '.'));
  expect_refused_at(&cfg, mix, NOW, "signature");
  expect_stats(0, 4);
  expect_ok_at(&cfg, tok, NOW);
  expect_stats(1, 4);
  free(mix);
  free(coord);
  free(t);
  free(tok);
}

/* Refused tokens never take a slot, so however many arrive, the good token
 * stays cached. */
static void refusals_do_not_evict(void **state) {
  (void)state;
  struct config cfg = hs_config();
  char *good = auth_sign_dev(SECRET, "coach", SUB, P1, NULL, 3600, NOW);
  assert_non_null(good);
  expect_ok_at(&cfg, good, NOW);
  for (int i = 0; i < 3000; i++) {
    char sub[37];
    snprintf(sub, sizeof sub, "00000000-0000-4000-8000-%012d", i);
    char *bad = auth_sign_dev("another-secret-of-enough-length-000", "coach", sub, P1, NULL, 3600, NOW);
    assert_non_null(bad);
    expect_refused_at(&cfg, bad, NOW, "signature");
    free(bad);
  }
  expect_stats(0, 3001);
  expect_ok_at(&cfg, good, NOW);
  expect_stats(1, 3001);
  free(good);
}

/* Tokens over the size limit are verified every time (and still accepted). */
static void long_tokens_are_not_kept(void **state) {
  (void)state;
  struct config cfg = hs_config();
  char prg[120 * 37 + 1];
  size_t o = 0;
  for (int i = 0; i < 120; i++)
    o += (size_t)snprintf(prg + o, sizeof prg - o, "%s00000000-0000-4000-8000-%012d", i ? "," : "", i);
  char *tok = auth_sign_dev(SECRET, "coach", SUB, prg, NULL, 3600, NOW);
  assert_non_null(tok);
  assert_true(strlen(tok) > 4096 && strlen(tok) <= 8192);
  struct claims c;
  const char *why = NULL;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(auth_verify(&cfg, tok, NOW, &c, &why), 0);
    assert_int_equal(c.prg_count, 120);
    claims_free(&c);
  }
  expect_stats(0, 2);
  free(tok);
}

/* ------------------------------------------------ threads sharing the cache */

#define NTOK 1500 /* more tokens than slots: entries replace each other */
#define NTHREADS 8
static char *toks[NTOK];

static void *hammer(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  struct config cfg = hs_config();
  for (int k = 0; k < 6000; k++) {
    seed = seed * 1103515245u + 12345u;
    int i = (int)((seed >> 8) % NTOK);
    struct claims c;
    const char *why = NULL;
    if (auth_verify(&cfg, toks[i], NOW + k % 7, &c, &why) != 0) return (void *)"refused";
    char want[37];
    snprintf(want, sizeof want, "00000000-0000-4000-8000-%012d", i);
    bool ok = strcmp(c.sub, want) == 0 && c.role == (i % 2 ? ROLE_COACH : ROLE_MENTEE) &&
              strcmp(c.prg_pg, "{" P1 "}") == 0;
    claims_free(&c);
    if (!ok) return (void *)"claims of another token";
  }
  return NULL;
}

static void threads_share_it_safely(void **state) {
  (void)state;
  for (int i = 0; i < NTOK; i++) {
    char sub[37];
    snprintf(sub, sizeof sub, "00000000-0000-4000-8000-%012d", i);
    toks[i] = auth_sign_dev(SECRET, i % 2 ? "coach" : "mentee", sub, P1, NULL, 3600, NOW);
    assert_non_null(toks[i]);
  }
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, hammer, (void *)(uintptr_t)(t + 1)), 0);
  const char *err = NULL;
  for (int t = 0; t < NTHREADS; t++) {
    void *r = NULL;
    pthread_join(th[t], &r);
    if (r) err = r;
  }
  unsigned long h, m;
  auth_cache_stats(&h, &m);
  for (int i = 0; i < NTOK; i++) free(toks[i]);
  if (err) fail_msg("a thread saw: %s", err);
  assert_int_equal(h + m, NTHREADS * 6000);
  assert_true(h > 0 && m >= NTOK / 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(second_use_is_a_hit_with_the_same_claims, clear),
    cmocka_unit_test_setup(expiry_is_checked_on_every_use, clear),
    cmocka_unit_test_setup(nbf_is_checked_on_every_use, clear),
    cmocka_unit_test_setup(other_settings_never_hit, clear),
    cmocka_unit_test_setup(only_the_exact_token_hits, clear),
    cmocka_unit_test_setup(refusals_do_not_evict, clear),
    cmocka_unit_test_setup(long_tokens_are_not_kept, clear),
    cmocka_unit_test_setup(threads_share_it_safely, clear),
  };
  return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
