#include "service/auth.h"

#include <errno.h>
#include <jwt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/validate.h"

static const char *const ROLES[] = {"", "coordinator", "coach", "mentor", "mentee",
                                    "researcher", "integration", NULL};

const char *role_name(enum role r) {
  return (r > ROLE_NONE && r <= ROLE_INTEGRATION) ? ROLES[r] : "anonymous";
}

enum role role_parse(const char *s) {
  int i = (s && *s) ? v_enum(s, ROLES) : -1;
  return i > 0 ? (enum role)i : ROLE_NONE;
}

void claims_free(struct claims *c) {
  free(c->prg_pg);
  c->prg_pg = NULL;
}

static void lower_copy(char *dst, const char *src) {
  for (int i = 0; i < 36; i++) dst[i] = (char)((src[i] >= 'A' && src[i] <= 'F') ? src[i] + 32 : src[i]);
  dst[36] = 0;
}

/* Reads a NumericDate claim: must be a JSON integer. */
static int numeric_date(json_t *v, long long *out) {
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  return -1;
}

static bool audience_matches(json_t *aud, const char *want) {
  if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
  if (json_is_array(aud)) {
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a) if (json_is_string(a) && strcmp(json_string_value(a), want) == 0) return true;
  }
  return false;
}

static int check_claims(const struct config *cfg, json_t *g, time_t now, struct claims *out,
                        const char **why) {
  long long exp, nbf, iat;
  json_t *v = json_object_get(g, "exp");
  if (!v) return *why = "the token has no exp claim", -1;
  if (numeric_date(v, &exp)) return *why = "exp is not a NumericDate", -1;
  /* written so that no claim value, however large, can overflow */
  if (exp < (long long)now - cfg->jwt_leeway) return *why = "the token has expired", -1;
  if ((v = json_object_get(g, "nbf"))) {
    if (numeric_date(v, &nbf)) return *why = "nbf is not a NumericDate", -1;
    if (nbf > (long long)now + cfg->jwt_leeway) return *why = "the token is not valid yet (nbf)", -1;
  }
  if ((v = json_object_get(g, "iat")) && numeric_date(v, &iat))
    return *why = "iat is not a NumericDate", -1;
  if (cfg->jwt_issuer) {
    v = json_object_get(g, "iss");
    if (!json_is_string(v) || strcmp(json_string_value(v), cfg->jwt_issuer) != 0)
      return *why = "the token's issuer is not accepted", -1;
  }
  if (cfg->jwt_audience && !audience_matches(json_object_get(g, "aud"), cfg->jwt_audience))
    return *why = "the token's audience is not accepted", -1;

  v = json_object_get(g, "sub");
  if (!json_is_string(v) || !v_uuid(json_string_value(v)))
    return *why = "sub must be a UUID", -1;
  lower_copy(out->sub, json_string_value(v));
  v = json_object_get(g, "role");
  out->role = json_is_string(v) ? role_parse(json_string_value(v)) : ROLE_NONE;
  if (out->role == ROLE_NONE) return *why = "role is missing or unknown", -1;

  v = json_object_get(g, "prg");
  if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
    out->prg_all = true;
    out->prg_pg = strdup("{}");
  } else if (!v || json_is_array(v)) {
    size_t n = json_array_size(v), i;
    if (n > 1000) return *why = "prg has too many programmes", -1;
    out->prg_pg = malloc(3 + n * 37);
    if (!out->prg_pg) return *why = "out of memory", -1;
    char *p = out->prg_pg;
    *p++ = '{';
    json_t *a;
    json_array_foreach(v, i, a) {
      if (!json_is_string(a) || !v_uuid(json_string_value(a))) {
        claims_free(out);
        return *why = "prg must be \"*\" or an array of UUIDs", -1;
      }
      if (i) *p++ = ',';
      lower_copy(p, json_string_value(a));
      p += 36;
    }
    *p++ = '}';
    *p = 0;
    out->prg_count = (int)n;
  } else {
    return *why = "prg must be \"*\" or an array of UUIDs", -1;
  }
  v = json_object_get(g, "partner");
  if (v) {
    if (!json_is_string(v) || !v_uuid(json_string_value(v))) {
      claims_free(out);
      return *why = "partner must be a UUID", -1;
    }
    lower_copy(out->partner, json_string_value(v));
  }
  if (out->role == ROLE_INTEGRATION && !out->partner[0]) {
    claims_free(out);
    return *why = "an integration token needs a partner claim", -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- verified-token cache
 * Verifying an RS256/ES256 signature costs tens of microseconds, and libjwt
 * parses the claims twice more; a client sends the same token with every
 * request until it expires. So a token that passed every check is kept, with
 * the claims it gave and its exp and nbf, keyed by a hash of the whole token
 * string: a later request with the same token (compared in full, in constant
 * time) under the same verification settings (algorithm, key, issuer,
 * audience: a fingerprint of them is part of the entry) gets a copy of those
 * claims after the time checks alone, done exactly as on the uncached path
 * (exp and nbf against now with the configured leeway), so a cached token is
 * honoured for no longer than an uncached one. Refusals are never cached:
 * only a verified token can take a slot, so invalid tokens can neither evict
 * nor poison entries. Fixed size (TC_SLOTS direct-mapped slots, one mutex
 * each; a collision replaces the older entry), tokens up to TC_MAX_TOKEN. */
#define TC_SLOTS 512
#define TC_MAX_TOKEN 4096

struct tc_entry {
  pthread_mutex_t lock;
  uint64_t hash;   /* of the token */
  uint64_t cfg_fp; /* of the settings it was verified under */
  char *token;     /* owned copy; NULL: empty slot */
  size_t len;
  long long exp, nbf;
  bool has_nbf;
  struct claims claims; /* prg_pg owned */
};

static struct tc_entry tc[TC_SLOTS];
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;
static atomic_ulong tc_hits, tc_misses;

static void tc_init(void) {
  for (size_t i = 0; i < TC_SLOTS; i++) pthread_mutex_init(&tc[i].lock, NULL);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* A string and its terminator (a NULL string hashes as one 0xff byte), so
 * that no two different settings run together into the same bytes. */
static uint64_t fnv1a_str(uint64_t h, const char *s) {
  return s ? fnv1a(h, s, strlen(s) + 1) : fnv1a(h, "\xff", 1);
}

static uint64_t cfg_fingerprint(const struct config *cfg, const char *key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  int alg = (int)cfg->jwt_alg;
  h = fnv1a(h, &alg, sizeof alg);
  h = fnv1a_str(h, key);
  h = fnv1a_str(h, cfg->jwt_issuer);
  return fnv1a_str(h, cfg->jwt_audience);
}

static bool same_bytes(const char *a, const char *b, size_t n) {
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* The time checks of check_claims, in the same order and words. */
static int tc_times(const struct config *cfg, long long exp, bool has_nbf, long long nbf, time_t now,
                    const char **why) {
  if (exp < (long long)now - cfg->jwt_leeway) return *why = "the token has expired", -1;
  if (has_nbf && nbf > (long long)now + cfg->jwt_leeway)
    return *why = "the token is not valid yet (nbf)", -1;
  return 0;
}

static void tc_clear_entry(struct tc_entry *e) {
  free(e->token);
  claims_free(&e->claims);
  e->token = NULL;
  e->len = 0;
}

/* 1: found, *rc and out/why filled as the uncached path would; 0: not cached. */
static int tc_lookup(uint64_t hash, uint64_t fp, const char *token, size_t len, const struct config *cfg,
                     time_t now, struct claims *out, const char **why, int *rc) {
  struct tc_entry *e = &tc[hash % TC_SLOTS];
  int found = 0;
  pthread_mutex_lock(&e->lock);
  if (e->token && e->hash == hash && e->cfg_fp == fp && e->len == len && same_bytes(e->token, token, len)) {
    *rc = tc_times(cfg, e->exp, e->has_nbf, e->nbf, now, why);
    if (*rc == 0) {
      char *prg = strdup(e->claims.prg_pg);
      if (prg) {
        *out = e->claims;
        out->prg_pg = prg;
        found = 1;
      }
    } else {
      found = 1;
    }
  }
  pthread_mutex_unlock(&e->lock);
  atomic_fetch_add_explicit(found ? &tc_hits : &tc_misses, 1, memory_order_relaxed);
  return found;
}

static void tc_store(uint64_t hash, uint64_t fp, const char *token, size_t len, json_t *g,
                     const struct claims *c) {
  if (len > TC_MAX_TOKEN) return;
  long long exp = 0, nbf = 0;
  if (numeric_date(json_object_get(g, "exp"), &exp)) return;
  json_t *v = json_object_get(g, "nbf");
  if (v && numeric_date(v, &nbf)) return;
  char *copy = malloc(len + 1), *prg = strdup(c->prg_pg);
  if (!copy || !prg) {
    free(copy);
    free(prg);
    return;
  }
  memcpy(copy, token, len + 1);
  struct tc_entry *e = &tc[hash % TC_SLOTS];
  pthread_mutex_lock(&e->lock);
  tc_clear_entry(e);
  e->hash = hash;
  e->cfg_fp = fp;
  e->token = copy;
  e->len = len;
  e->exp = exp;
  e->nbf = nbf;
  e->has_nbf = v != NULL;
  e->claims = *c;
  e->claims.prg_pg = prg;
  pthread_mutex_unlock(&e->lock);
}

void auth_cache_clear(void) {
  pthread_once(&tc_once, tc_init);
  for (size_t i = 0; i < TC_SLOTS; i++) {
    pthread_mutex_lock(&tc[i].lock);
    tc_clear_entry(&tc[i]);
    pthread_mutex_unlock(&tc[i].lock);
  }
  atomic_store(&tc_hits, 0);
  atomic_store(&tc_misses, 0);
}

void auth_cache_stats(unsigned long *hits, unsigned long *misses) {
  *hits = atomic_load(&tc_hits);
  *misses = atomic_load(&tc_misses);
}

int auth_verify(const struct config *cfg, const char *token, time_t now, struct claims *out,
                const char **why) {
  memset(out, 0, sizeof *out);
  *why = "the token is malformed";
  size_t len = token ? strlen(token) : 0;
  if (!len || len > 8192) return -1;
  const char *key;
  jwt_alg_t want;
  switch (cfg->jwt_alg) {
  case CFG_RS256: key = cfg->jwt_public_key; want = JWT_ALG_RS256; break;
  case CFG_ES256: key = cfg->jwt_public_key; want = JWT_ALG_ES256; break;
  default: key = cfg->jwt_secret; want = JWT_ALG_HS256; break;
  }
  /* Never a NULL key: libjwt would then accept alg "none". */
  if (!key || !*key) return *why = "no verification key is configured", -1;
  pthread_once(&tc_once, tc_init);
  uint64_t hash = fnv1a(0xcbf29ce484222325ULL, token, len), fp = cfg_fingerprint(cfg, key);
  int rc = -1;
  if (tc_lookup(hash, fp, token, len, cfg, now, out, why, &rc)) return rc;
  jwt_t *jwt = NULL;
  if (jwt_decode(&jwt, token, (const unsigned char *)key, (int)strlen(key)) != 0 || !jwt) {
    *why = "the token's signature or format is invalid";
    return -1;
  }
  char *grants = NULL;
  json_t *g = NULL;
  /* libjwt verifies with whatever algorithm the token names: pin it. */
  if (jwt_get_alg(jwt) != want) {
    *why = "the token's algorithm is not accepted";
    goto out;
  }
  grants = jwt_get_grants_json(jwt, NULL);
  g = grants ? json_loads(grants, JSON_REJECT_DUPLICATES, NULL) : NULL;
  if (!json_is_object(g)) {
    *why = "the token's claims are not a JSON object";
    goto out;
  }
  rc = check_claims(cfg, g, now, out, why);
  if (rc == 0) tc_store(hash, fp, token, len, g, out);
out:
  json_decref(g);
  free(grants);
  jwt_free(jwt);
  return rc;
}

char *auth_sign_dev(const char *secret, const char *role, const char *sub, const char *prg,
                    const char *partner, long ttl, time_t now) {
  json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", sub, "role", role, "iat",
                             (json_int_t)now, "exp", (json_int_t)(now + ttl));
  if (!claims) return NULL;
  if (prg && strcmp(prg, "*") == 0) {
    json_object_set_new(claims, "prg", json_string("*"));
  } else {
    json_t *arr = json_array();
    char *copy = strdup(prg ? prg : "");
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
      json_array_append_new(arr, json_string(t));
    free(copy);
    json_object_set_new(claims, "prg", arr);
  }
  if (partner && *partner) json_object_set_new(claims, "partner", json_string(partner));
  char *body = json_dumps(claims, JSON_COMPACT);
  json_decref(claims);
  jwt_t *jwt = NULL;
  char *out = NULL;
  if (body && jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, body) == 0 &&
      jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) == 0)
    out = jwt_encode_str(jwt);
  jwt_free(jwt);
  free(body);
  return out;
}
