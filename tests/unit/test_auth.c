/* service/auth.c: JWT verification with a pinned algorithm, claims rules,
 * and dev token signing. Tokens that libjwt would refuse to make (alg none,
 * odd claim types) are built by hand: base64url(header).base64url(payload).sig. */
#include "tests/unit/unit.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>

#include "service/auth.h"

#define SECRET "unit-test-hs256-secret-0123456789abcdef"
#define NOW 1700000000L
#define SUB "123e4567-e89b-12d3-a456-426614174000"
#define SUB_UPPER "123E4567-E89B-12D3-A456-426614174000"
#define P1 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define P2_UPPER "AAAAAAAA-BBBB-CCCC-DDDD-FFFFFFFFFFFF"
#define P2 "aaaaaaaa-bbbb-cccc-dddd-ffffffffffff"
#define PARTNER "0f0f0f0f-1111-2222-3333-444444444444"

/* Key pairs generated once for the whole run (PEM text, malloc'ed). */
static char *rsa_priv, *rsa_pub, *rsa2_priv, *ec_priv, *ec_pub;

/* ---------------------------------------------------------------- helpers */

static char *b64url(const void *data, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unsigned char *in = data;
  char *out = malloc(n * 4 / 3 + 4);
  assert_non_null(out);
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = tab[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = tab[v & 63];
  }
  out[o] = 0;
  return out;
}

/* header.payload with an HMAC-SHA256 signature over exactly those bytes. */
static char *hand_token(const char *header, const char *payload, const char *hmac_key) {
  char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
  size_t len = strlen(h) + strlen(p) + 64;
  char *tok = malloc(len);
  assert_non_null(tok);
  snprintf(tok, len, "%s.%s", h, p);
  char *sig = NULL;
  if (hmac_key) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), hmac_key, (int)strlen(hmac_key), (const unsigned char *)tok, strlen(tok), mac,
         &maclen);
    sig = b64url(mac, maclen);
  }
  strcat(tok, ".");
  if (sig) strcat(tok, sig);
  free(sig);
  free(h);
  free(p);
  return tok;
}

/* An HS256 token over the given claims JSON, built by hand. */
static char *hs_token(const char *claims) {
  return hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, SECRET);
}

/* A token signed by libjwt with any algorithm and key. */
static char *jwt_token(jwt_alg_t alg, const char *key, const char *claims) {
  jwt_t *jwt = NULL;
  assert_int_equal(jwt_new(&jwt), 0);
  assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
  assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
  char *tok = jwt_encode_str(jwt);
  jwt_free(jwt);
  assert_non_null(tok);
  return tok;
}

static struct config hs_config(void) {
  struct config c;
  memset(&c, 0, sizeof c);
  c.jwt_alg = CFG_HS256;
  c.jwt_secret = (char *)SECRET;
  c.jwt_leeway = 60;
  return c;
}

/* A claims object from two comma-separated member lists (either may be ""),
 * so each test states exactly the claims it means, without duplicates. */
static char *claims_with(const char *exp_nbf, const char *rest) {
  char *s = malloc(4096);
  assert_non_null(s);
  snprintf(s, 4096, "{%s%s%s}", exp_nbf, (*exp_nbf && *rest) ? "," : "", rest);
  return s;
}

#define STD_EXP "\"exp\":1700003600"
#define STD_REST "\"sub\":\"" SUB "\",\"role\":\"mentor\",\"prg\":[\"" P1 "\"]"

/* Verifies and returns rc; *why and *c are filled as auth_verify does. */
static int verify(const struct config *cfg, const char *tok, struct claims *c, const char **why) {
  int rc = auth_verify(cfg, tok, NOW, c, why);
  assert_non_null(*why);
  return rc;
}

static void expect_ok(const struct config *cfg, const char *tok, struct claims *c) {
  const char *why = "";
  int rc = verify(cfg, tok, c, &why);
  if (rc != 0) fail_msg("token refused (%s): %s", why, tok);
}

/* Expects a refusal; if reason is not NULL the reason must contain it. */
static void expect_refused(const struct config *cfg, const char *tok, const char *reason) {
  struct claims c;
  const char *why = NULL;
  int rc = verify(cfg, tok, &c, &why);
  if (rc == 0) {
    claims_free(&c);
    fail_msg("token accepted, expected refusal (%s): %s", reason ? reason : "any", tok);
  }
  assert_null(c.prg_pg); /* nothing left allocated on failure */
  if (reason && !strstr(why, reason)) fail_msg("refused for \"%s\", expected \"%s\"", why, reason);
}

/* Builds a claims set, signs it HS256 and expects acceptance/refusal. */
static void claims_ok(const char *exp_nbf, const char *rest, struct claims *out) {
  struct config cfg = hs_config();
  char *cl = claims_with(exp_nbf, rest), *tok = hs_token(cl);
  expect_ok(&cfg, tok, out);
  free(tok);
  free(cl);
}

static void claims_refused(const struct config *cfg, const char *exp_nbf, const char *rest,
                           const char *reason) {
  char *cl = claims_with(exp_nbf, rest), *tok = hs_token(cl);
  expect_refused(cfg, tok, reason);
  free(tok);
  free(cl);
}

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
  EVP_PKEY *rsa = EVP_RSA_gen(2048), *rsa2 = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
  if (!rsa || !rsa2 || !ec) return -1;
  rsa_priv = pem_of(rsa, true);
  rsa_pub = pem_of(rsa, false);
  rsa2_priv = pem_of(rsa2, true);
  ec_priv = pem_of(ec, true);
  ec_pub = pem_of(ec, false);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(rsa2);
  EVP_PKEY_free(ec);
  return 0;
}

static int keys_teardown(void **state) {
  (void)state;
  free(rsa_priv);
  free(rsa_pub);
  free(rsa2_priv);
  free(ec_priv);
  free(ec_pub);
  return 0;
}

/* ------------------------------------------------------------------ tests */

static void dev_token_verifies(void **state) {
  (void)state;
  struct config cfg = hs_config();
  char *tok = auth_sign_dev(SECRET, "coach", SUB_UPPER, P1 "," P2_UPPER, NULL, 3600, NOW);
  assert_non_null(tok);
  struct claims c;
  expect_ok(&cfg, tok, &c);
  assert_string_equal(c.sub, SUB); /* normalised to lower case */
  assert_int_equal(c.role, ROLE_COACH);
  assert_false(c.prg_all);
  assert_int_equal(c.prg_count, 2);
  assert_string_equal(c.prg_pg, "{" P1 "," P2 "}");
  assert_string_equal(c.partner, "");
  claims_free(&c);
  assert_null(c.prg_pg);
  claims_free(&c); /* twice is harmless */
  free(tok);
}

static void dev_token_contents(void **state) {
  (void)state;
  char *tok = auth_sign_dev(SECRET, "integration", SUB, "*", PARTNER, 600, NOW);
  assert_non_null(tok);
  jwt_t *jwt = NULL;
  assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
  assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
  assert_int_equal(jwt_get_grant_int(jwt, "iat"), NOW);
  assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + 600);
  assert_string_equal(jwt_get_grant(jwt, "prg"), "*");
  assert_string_equal(jwt_get_grant(jwt, "partner"), PARTNER);
  assert_string_equal(jwt_get_grant(jwt, "role"), "integration");
  jwt_free(jwt);

  struct config cfg = hs_config();
  struct claims c;
  expect_ok(&cfg, tok, &c);
  assert_true(c.prg_all);
  assert_string_equal(c.prg_pg, "{}");
  assert_string_equal(c.partner, PARTNER);
  assert_int_equal(c.role, ROLE_INTEGRATION);
  claims_free(&c);
  free(tok);

  /* The token is only good for ttl (+ leeway). */
  tok = auth_sign_dev(SECRET, "mentee", SUB, NULL, NULL, 10, NOW - 100);
  expect_refused(&cfg, tok, "expired");
  free(tok);
}

static void dev_token_without_prg(void **state) {
  (void)state;
  struct config cfg = hs_config();
  char *tok = auth_sign_dev(SECRET, "mentee", SUB, NULL, NULL, 3600, NOW);
  struct claims c;
  expect_ok(&cfg, tok, &c);
  assert_false(c.prg_all);
  assert_int_equal(c.prg_count, 0);
  assert_string_equal(c.prg_pg, "{}");
  claims_free(&c);
  free(tok);

  /* No prg claim at all behaves the same: member of nothing. */
  claims_ok(STD_EXP, "\"sub\":\"" SUB "\",\"role\":\"mentee\"", &c);
  assert_false(c.prg_all);
  assert_int_equal(c.prg_count, 0);
  assert_string_equal(c.prg_pg, "{}");
  claims_free(&c);
}

static void expiry_and_leeway(void **state) {
  (void)state;
  struct config cfg = hs_config();
  struct claims c;
  claims_refused(&cfg, "\"exp\":1699996400", STD_REST, "expired"); /* an hour ago */
  claims_refused(&cfg, "\"exp\":1699999939", STD_REST, "expired"); /* 61 s ago: beyond leeway */
  claims_ok("\"exp\":1699999940", STD_REST, &c);                   /* 60 s ago: within leeway */
  claims_free(&c);
  claims_ok("\"exp\":1699999970", STD_REST, &c);
  claims_free(&c);
  claims_ok("\"exp\":32503680000", STD_REST, &c); /* year 3000 */
  claims_free(&c);

  cfg.jwt_leeway = 0;
  claims_refused(&cfg, "\"exp\":1699999999", STD_REST, "expired");
  char *tok = hs_token("{\"exp\":1700000000," STD_REST "}");
  expect_ok(&cfg, tok, &c); /* exp == now is still valid */
  claims_free(&c);
  free(tok);
}

static void exp_type_and_presence(void **state) {
  (void)state;
  struct config cfg = hs_config();
  claims_refused(&cfg, "", STD_REST, "no exp");
  claims_refused(&cfg, "\"exp\":\"1700003600\"", STD_REST, "exp is not");
  claims_refused(&cfg, "\"exp\":null", STD_REST, "exp is not");
  claims_refused(&cfg, "\"exp\":true", STD_REST, "exp is not");
  claims_refused(&cfg, STD_EXP ",\"iat\":\"yesterday\"", STD_REST, "iat is not");
}

static void not_before(void **state) {
  (void)state;
  struct config cfg = hs_config();
  struct claims c;
  claims_refused(&cfg, STD_EXP ",\"nbf\":1700000061", STD_REST, "not valid yet");
  claims_refused(&cfg, STD_EXP ",\"nbf\":1700003000", STD_REST, "not valid yet");
  claims_ok(STD_EXP ",\"nbf\":1700000060", STD_REST, &c); /* within leeway */
  claims_free(&c);
  claims_ok(STD_EXP ",\"nbf\":1699999990", STD_REST, &c);
  claims_free(&c);
  claims_refused(&cfg, STD_EXP ",\"nbf\":\"soon\"", STD_REST, "nbf is not");
}

static void wrong_secret(void **state) {
  (void)state;
  struct config cfg = hs_config();
  char *tok = auth_sign_dev("another-secret-of-enough-length-0123456789", "mentor", SUB, "*", NULL,
                            3600, NOW);
  expect_refused(&cfg, tok, "signature");
  free(tok);
}

static void tampered(void **state) {
  (void)state;
  struct config cfg = hs_config();
  char *tok = auth_sign_dev(SECRET, "mentee", SUB, P1, NULL, 3600, NOW);
  struct claims c;
  expect_ok(&cfg, tok, &c);
  claims_free(&c);

  /* Same header and signature, payload rewritten to claim coordinator. */
  char *dot1 = strchr(tok, '.'), *dot2 = strchr(dot1 + 1, '.');
  const char *forged_claims =
    "{\"sub\":\"" SUB "\",\"role\":\"coordinator\",\"iat\":1700000000,\"exp\":1700003600,\"prg\":\"*\"}";
  char *p = b64url(forged_claims, strlen(forged_claims));
  char forged[2048];
  snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot1 - tok), tok, p, dot2);
  expect_refused(&cfg, forged, NULL);
  free(p);

  /* One character of the signature changed, then the signature cut or dropped. */
  char t[2048];
  snprintf(t, sizeof t, "%s", tok);
  char *last = t + strlen(t) - 3;
  *last = *last == 'A' ? 'B' : 'A';
  expect_refused(&cfg, t, NULL);
  snprintf(t, sizeof t, "%.*s", (int)strlen(tok) - 5, tok);
  expect_refused(&cfg, t, NULL);
  snprintf(t, sizeof t, "%.*s.", (int)(dot2 - tok), tok);
  expect_refused(&cfg, t, NULL);
  snprintf(t, sizeof t, "%.*s", (int)(dot2 - tok), tok);
  expect_refused(&cfg, t, NULL);
  free(tok);
}

static void alg_none(void **state) {
  (void)state;
  struct config cfg = hs_config();
  const char *claims = "{\"exp\":1700003600," STD_REST "}";
  char *tok = hand_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL);
  assert_int_equal(tok[strlen(tok) - 1], '.'); /* empty signature */
  expect_refused(&cfg, tok, NULL);
  free(tok);
  tok = hand_token("{\"alg\":\"none\"}", claims, NULL);
  expect_refused(&cfg, tok, NULL);

  /* Not even when no key is configured: that is refused before libjwt. */
  struct config nokey = hs_config();
  nokey.jwt_secret = NULL;
  expect_refused(&nokey, tok, "no verification key");
  nokey.jwt_secret = (char *)"";
  expect_refused(&nokey, tok, "no verification key");
  free(tok);

  /* alg none with a (valid HS256) signature still attached. */
  char *good = hs_token(claims);
  char *none = hand_token("{\"alg\":\"none\"}", claims, NULL);
  char t[2048];
  snprintf(t, sizeof t, "%s%s", none, strrchr(good, '.') + 1);
  expect_refused(&cfg, t, NULL);
  free(good);
  free(none);
}

static void other_hmac_alg_pinned(void **state) {
  (void)state;
  struct config cfg = hs_config();
  /* Right secret, valid signature, but HS512 is not the configured algorithm. */
  char *tok = jwt_token(JWT_ALG_HS512, SECRET, "{\"exp\":1700003600," STD_REST "}");
  expect_refused(&cfg, tok, "algorithm is not accepted");
  free(tok);
}

static void rs256(void **state) {
  (void)state;
  struct config cfg = hs_config();
  cfg.jwt_alg = CFG_RS256;
  cfg.jwt_secret = NULL;
  cfg.jwt_public_key = rsa_pub;
  const char *claims = "{\"exp\":1700003600," STD_REST "}";

  char *tok = jwt_token(JWT_ALG_RS256, rsa_priv, claims);
  struct claims c;
  expect_ok(&cfg, tok, &c);
  assert_int_equal(c.role, ROLE_MENTOR);
  assert_string_equal(c.sub, SUB);
  claims_free(&c);

  /* The HS256/RS256 confusion: HMAC keyed with the public key's PEM text.
   * libjwt accepts the signature; only the pinned algorithm stops it. */
  char *confused = jwt_token(JWT_ALG_HS256, rsa_pub, claims);
  expect_refused(&cfg, confused, "algorithm is not accepted");
  free(confused);

  /* Signed by another key pair. */
  char *other = jwt_token(JWT_ALG_RS256, rsa2_priv, claims);
  expect_refused(&cfg, other, NULL);
  free(other);

  /* An RS256 token against the HS256 configuration. */
  struct config hs = hs_config();
  expect_refused(&hs, tok, NULL);
  free(tok);

  /* The claim rules apply under RS256 too. */
  tok = jwt_token(JWT_ALG_RS256, rsa_priv, "{\"exp\":1699990000," STD_REST "}");
  expect_refused(&cfg, tok, "expired");
  free(tok);

  /* RS256 configured without a key. */
  cfg.jwt_public_key = NULL;
  tok = jwt_token(JWT_ALG_RS256, rsa_priv, claims);
  expect_refused(&cfg, tok, "no verification key");
  free(tok);
}

static void es256(void **state) {
  (void)state;
  struct config cfg = hs_config();
  cfg.jwt_alg = CFG_ES256;
  cfg.jwt_secret = NULL;
  cfg.jwt_public_key = ec_pub;
  const char *claims = "{\"exp\":1700003600," STD_REST "}";
  char *tok = jwt_token(JWT_ALG_ES256, ec_priv, claims);
  struct claims c;
  expect_ok(&cfg, tok, &c);
  claims_free(&c);
  free(tok);
  tok = jwt_token(JWT_ALG_HS256, ec_pub, claims);
  expect_refused(&cfg, tok, "algorithm is not accepted");
  free(tok);
  /* An RSA-signed token under the ES256 configuration. */
  cfg.jwt_public_key = rsa_pub;
  tok = jwt_token(JWT_ALG_RS256, rsa_priv, claims);
  expect_refused(&cfg, tok, NULL);
  free(tok);
}

static void issuer(void **state) {
  (void)state;
  struct config cfg = hs_config();
  struct claims c;
  /* Not configured: any iss passes. */
  claims_ok(STD_EXP ",\"iss\":\"https://anyone.example\"", STD_REST, &c);
  claims_free(&c);

  cfg.jwt_issuer = (char *)"https://idp.example";
  claims_refused(&cfg, STD_EXP, STD_REST, "issuer");
  claims_refused(&cfg, STD_EXP ",\"iss\":\"https://evil.example\"", STD_REST, "issuer");
  claims_refused(&cfg, STD_EXP ",\"iss\":\"https://idp.example/\"", STD_REST, "issuer");
  claims_refused(&cfg, STD_EXP ",\"iss\":[\"https://idp.example\"]", STD_REST, "issuer");
  claims_refused(&cfg, STD_EXP ",\"iss\":42", STD_REST, "issuer");
  char *tok = hs_token("{" STD_EXP ",\"iss\":\"https://idp.example\"," STD_REST "}");
  expect_ok(&cfg, tok, &c);
  claims_free(&c);
  free(tok);
}

static void audience(void **state) {
  (void)state;
  struct config cfg = hs_config();
  cfg.jwt_audience = (char *)"koppel";
  const char *good[] = {"\"aud\":\"koppel\"", "\"aud\":[\"koppel\"]",
                        "\"aud\":[\"other\",\"koppel\"]", "\"aud\":[1,{},\"koppel\"]", NULL};
  const char *bad[] = {"\"aud\":\"koppel2\"", "\"aud\":\"Koppel\"", "\"aud\":[\"other\"]",
                       "\"aud\":[]", "\"aud\":{\"koppel\":true}", "\"aud\":null", NULL};
  for (size_t i = 0; good[i]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "{" STD_EXP ",%s," STD_REST "}", good[i]);
    char *tok = hs_token(buf);
    struct claims c;
    expect_ok(&cfg, tok, &c);
    claims_free(&c);
    free(tok);
  }
  for (size_t i = 0; bad[i]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, STD_EXP ",%s", bad[i]);
    claims_refused(&cfg, buf, STD_REST, "audience");
  }
  claims_refused(&cfg, STD_EXP, STD_REST, "audience"); /* missing */
}

static void subject(void **state) {
  (void)state;
  struct config cfg = hs_config();
  const char *rest = "\"role\":\"mentor\",\"prg\":\"*\"";
  claims_refused(&cfg, STD_EXP, rest, "sub");
  claims_refused(&cfg, STD_EXP ",\"sub\":\"alice\"", rest, "sub");
  claims_refused(&cfg, STD_EXP ",\"sub\":42", rest, "sub");
  claims_refused(&cfg, STD_EXP ",\"sub\":\"" SUB "x\"", rest, "sub");
  claims_refused(&cfg, STD_EXP ",\"sub\":null", rest, "sub");
}

static void roles(void **state) {
  (void)state;
  struct config cfg = hs_config();
  const char *base = STD_EXP ",\"sub\":\"" SUB "\",\"prg\":\"*\",\"partner\":\"" PARTNER "\"";
  claims_refused(&cfg, base, "", "role");
  claims_refused(&cfg, base, "\"role\":\"admin\"", "role");
  claims_refused(&cfg, base, "\"role\":\"\"", "role");
  claims_refused(&cfg, base, "\"role\":\"Coordinator\"", "role");
  claims_refused(&cfg, base, "\"role\":3", "role");
  claims_refused(&cfg, base, "\"role\":[\"coach\"]", "role");
  claims_refused(&cfg, base, "\"role\":\"anonymous\"", "role");
  static const struct {
    const char *name;
    enum role r;
  } all[] = {{"coordinator", ROLE_COORDINATOR}, {"coach", ROLE_COACH},
             {"mentor", ROLE_MENTOR},           {"mentee", ROLE_MENTEE},
             {"researcher", ROLE_RESEARCHER},   {"integration", ROLE_INTEGRATION}};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    char rest[64];
    snprintf(rest, sizeof rest, "\"role\":\"%s\"", all[i].name);
    struct claims c;
    claims_ok(base, rest, &c);
    assert_int_equal(c.role, all[i].r);
    claims_free(&c);
  }
}

static void programmes(void **state) {
  (void)state;
  struct config cfg = hs_config();
  const char *base = STD_EXP ",\"sub\":\"" SUB "\",\"role\":\"coach\"";
  struct claims c;
  claims_ok(base, "\"prg\":\"*\"", &c);
  assert_true(c.prg_all);
  claims_free(&c);
  claims_ok(base, "\"prg\":[\"" P1 "\",\"" P2_UPPER "\"]", &c);
  assert_false(c.prg_all);
  assert_int_equal(c.prg_count, 2);
  assert_string_equal(c.prg_pg, "{" P1 "," P2 "}");
  claims_free(&c);
  claims_ok(base, "\"prg\":[]", &c);
  assert_int_equal(c.prg_count, 0);
  assert_string_equal(c.prg_pg, "{}");
  claims_free(&c);

  const char *bad[] = {"\"prg\":\"all\"", "\"prg\":\"" P1 "\"", "\"prg\":[\"*\"]",
                       "\"prg\":[\"not-a-uuid\"]", "\"prg\":[\"" P1 "\",7]", "\"prg\":{}",
                       "\"prg\":true", "\"prg\":null", "\"prg\":[[\"" P1 "\"]]",
                       "\"prg\":[\"" P1 "\",\"" P1 "x\"]", NULL};
  for (size_t i = 0; bad[i]; i++) claims_refused(&cfg, base, bad[i], "prg");
}

static void partner_claim(void **state) {
  (void)state;
  struct config cfg = hs_config();
  const char *integ = STD_EXP ",\"sub\":\"" SUB "\",\"role\":\"integration\",\"prg\":[]";
  claims_refused(&cfg, integ, "", "partner");
  claims_refused(&cfg, integ, "\"partner\":\"acme\"", "partner");
  claims_refused(&cfg, integ, "\"partner\":12", "partner");
  claims_refused(&cfg, integ, "\"partner\":\"\"", "partner");
  struct claims c;
  claims_ok(integ, "\"partner\":\"0F0F0F0F-1111-2222-3333-444444444444\"", &c);
  assert_string_equal(c.partner, PARTNER);
  claims_free(&c);
  /* Other roles may carry a partner; it is kept but not required. */
  claims_ok(STD_EXP, STD_REST ",\"partner\":\"" PARTNER "\"", &c);
  assert_string_equal(c.partner, PARTNER);
  claims_free(&c);
  claims_refused(&cfg, STD_EXP, STD_REST ",\"partner\":\"x\"", "partner");
}

static void sizes_and_garbage(void **state) {
  (void)state;
  struct config cfg = hs_config();
  struct claims c;
  const char *why = NULL;
  assert_int_equal(auth_verify(&cfg, NULL, NOW, &c, &why), -1);
  assert_non_null(why);
  expect_refused(&cfg, "", "malformed");
  const char *bad[] = {"a", "a.b", "a.b.c", "a.b.c.d", "...", "Bearer x.y.z", "e30.e30.", NULL};
  for (size_t i = 0; bad[i]; i++) expect_refused(&cfg, bad[i], NULL);

  char *big = malloc(8194);
  memset(big, 'a', 8193);
  big[8193] = 0;
  expect_refused(&cfg, big, "malformed");
  free(big);

  /* A correctly signed token: fine under the limit, refused over it. */
  char *pad = malloc(7000);
  memset(pad, 'x', 5900);
  pad[5900] = 0;
  char *cl = malloc(8000);
  snprintf(cl, 8000, "{" STD_EXP "," STD_REST ",\"pad\":\"%s\"}", pad);
  char *tok = hs_token(cl);
  assert_true(strlen(tok) <= 8192);
  expect_ok(&cfg, tok, &c);
  claims_free(&c);
  free(tok);
  memset(pad, 'x', 6200);
  pad[6200] = 0;
  snprintf(cl, 8000, "{" STD_EXP "," STD_REST ",\"pad\":\"%s\"}", pad);
  tok = hs_token(cl);
  assert_true(strlen(tok) > 8192);
  expect_refused(&cfg, tok, "malformed");
  free(tok);
  free(cl);
  free(pad);

  /* Signed, but the payload is not a JSON object. */
  tok = hs_token("[1,2,3]");
  expect_refused(&cfg, tok, NULL);
  free(tok);
  tok = hs_token("not json");
  expect_refused(&cfg, tok, NULL);
  free(tok);
}

static void duplicate_claims_last_wins(void **state) {
  (void)state;
  /* RFC 7519 4: reject duplicates or take the lexically last one; never the first. */
  struct config cfg = hs_config();
  char *tok = hs_token("{" STD_EXP ",\"sub\":\"" SUB "\",\"prg\":\"*\",\"role\":\"coordinator\","
                       "\"role\":\"mentee\"}");
  struct claims c;
  const char *why = NULL;
  int rc = auth_verify(&cfg, tok, NOW, &c, &why);
  if (rc == 0) {
    assert_int_equal(c.role, ROLE_MENTEE);
    claims_free(&c);
  }
  free(tok);
}

static void far_future_exp(void **state) {
  (void)state;
  struct claims c;
  claims_ok("\"exp\":9223372036854775807", STD_REST, &c);
  claims_free(&c);
}

static void role_names(void **state) {
  (void)state;
  assert_int_equal(role_parse("coordinator"), ROLE_COORDINATOR);
  assert_int_equal(role_parse("integration"), ROLE_INTEGRATION);
  assert_int_equal(role_parse(""), ROLE_NONE);
  assert_int_equal(role_parse(NULL), ROLE_NONE);
  assert_int_equal(role_parse("root"), ROLE_NONE);
  for (enum role r = ROLE_COORDINATOR; r <= ROLE_INTEGRATION; r++)
    assert_int_equal(role_parse(role_name(r)), r);
  assert_string_equal(role_name(ROLE_MENTEE), "mentee");
  assert_string_equal(role_name(ROLE_NONE), "anonymous");
  assert_string_equal(role_name((enum role)42), "anonymous");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(dev_token_verifies),   cmocka_unit_test(dev_token_contents),
    cmocka_unit_test(dev_token_without_prg), cmocka_unit_test(expiry_and_leeway),
    cmocka_unit_test(exp_type_and_presence), cmocka_unit_test(not_before),
    cmocka_unit_test(wrong_secret),         cmocka_unit_test(tampered),
    cmocka_unit_test(alg_none),             cmocka_unit_test(other_hmac_alg_pinned),
    cmocka_unit_test(rs256),                cmocka_unit_test(es256),
    cmocka_unit_test(issuer),               cmocka_unit_test(audience),
    cmocka_unit_test(subject),              cmocka_unit_test(roles),
    cmocka_unit_test(programmes),           cmocka_unit_test(partner_claim),
    cmocka_unit_test(sizes_and_garbage),    cmocka_unit_test(duplicate_claims_last_wins),
    cmocka_unit_test(far_future_exp),       cmocka_unit_test(role_names),
  };
  return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
