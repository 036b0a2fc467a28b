/* libFuzzer target: auth_verify. The first byte picks a mode, the rest is:
 *   0  a raw token string, verified under HS256;
 *   1  a claims payload, signed here with the configured HS256 secret, so the
 *      claim rules (exp, nbf, iss, aud, sub, role, prg, partner) are reached;
 *   2  a claims payload signed HS256 with the RS256 public key's PEM text as
 *      the HMAC secret, under an RS256 configuration: must never verify;
 *   3  "header\npayload", signed with the HS256 secret: any header other
 *      than alg HS256 must not verify.
 * Bits 2..3 of the first byte add iss/aud checks and a zero leeway. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "service/auth.h"
#include "service/validate.h"

#define SECRET "fuzz-hs256-secret-0123456789abcdef0123"
#define NOW 1700000000L

/* A public key generated for this harness (its private half was discarded):
 * no RS256 token can verify, only the key-confusion attempt of mode 2. */
static const char RSA_PUB[] =
  "-----BEGIN PUBLIC KEY-----\n"
  "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv5vvkbvEu6345HM4ovUi\n"
  "cWMVXJnZsGQvCmcedAvSti/UseZVtm9GM9Xk0K/HZVqTMlePWwc6db8wleJV2RN3\n"
  "cLkAFAfMyDrLlIUzq0JmpTB6h4XsaXBjhDtnizfT32lbVAGRSfJ7shvHXZJ2eQFL\n"
  "9vry+7ETj2D4IALSfvQrWiCNvm+814QIkb5Jd/X/6wkFrEIOZwZF9jKN9E4lvItR\n"
  "wr+PihQaDzL5wASuhL/LmRp+JdODvAZql6NRXYGdfPqW2Jtci6/kBx+MBTiC2OVc\n"
  "09JsqtzlBuTP4CdTqZIxU6xGZ+UVUZj2SMjY9PYmHGa5QDRYYq00N8xmbH6yJgvp\n"
  "ywIDAQAB\n"
  "-----END PUBLIC KEY-----\n";

static size_t b64url(const unsigned char *in, size_t n, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
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
  return o;
}

/* base64url(header).base64url(payload).HMAC-SHA256(key); caller frees. */
static char *sign(const char *header, size_t hlen, const uint8_t *payload, size_t plen, const char *key) {
  char *tok = malloc((hlen + plen) * 4 / 3 + 64);
  if (!tok) return NULL;
  size_t o = b64url((const unsigned char *)header, hlen, tok);
  tok[o++] = '.';
  o += b64url(payload, plen, tok + o);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned maclen = 0;
  HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)tok, o, mac, &maclen);
  tok[o++] = '.';
  b64url(mac, maclen, tok + o);
  return tok;
}

static void check_claims_shape(const struct claims *c) {
  if (!v_uuid(c->sub)) abort();
  for (const char *p = c->sub; *p; p++)
    if (*p >= 'A' && *p <= 'F') abort(); /* normalised to lower case */
  if (c->role <= ROLE_NONE || c->role > ROLE_INTEGRATION) abort();
  if (!c->prg_pg) abort();
  size_t n = strlen(c->prg_pg);
  if (n < 2 || c->prg_pg[0] != '{' || c->prg_pg[n - 1] != '}') abort();
  if (c->prg_all && strcmp(c->prg_pg, "{}") != 0) abort();
  if (!c->prg_all && n != (size_t)(2 + c->prg_count * 37 - (c->prg_count ? 1 : 0))) abort();
  if (c->partner[0] && !v_uuid(c->partner)) abort();
  if (c->role == ROLE_INTEGRATION && !c->partner[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned mode = data[0] & 3u;
  struct config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.jwt_alg = CFG_HS256;
  cfg.jwt_secret = (char *)SECRET;
  cfg.jwt_leeway = (data[0] & 8u) ? 0 : 60;
  if (data[0] & 4u) {
    cfg.jwt_issuer = (char *)"https://idp.example";
    cfg.jwt_audience = (char *)"koppel";
  }
  const uint8_t *rest = data + 1;
  size_t n = size - 1;
  char *tok = NULL;
  const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

  switch (mode) {
  case 0:
    tok = malloc(n + 1);
    if (!tok) return 0;
    memcpy(tok, rest, n);
    tok[n] = 0;
    break;
  case 1:
    tok = sign(hs, strlen(hs), rest, n, SECRET);
    break;
  case 2:
    cfg.jwt_alg = CFG_RS256;
    cfg.jwt_secret = NULL;
    cfg.jwt_public_key = (char *)RSA_PUB;
    tok = sign(hs, strlen(hs), rest, n, RSA_PUB);
    break;
  default: {
    const uint8_t *nl = memchr(rest, '\n', n);
    if (!nl) return 0;
    size_t hlen = (size_t)(nl - rest);
    tok = sign((const char *)rest, hlen, nl + 1, n - hlen - 1, SECRET);
    break;
  }
  }
  if (!tok) return 0;

  struct claims c;
  const char *why = NULL;
  int rc = auth_verify(&cfg, tok, NOW, &c, &why);
  if (!why) abort();
  if (rc == 0) {
    check_claims_shape(&c);
    if (mode == 2) abort(); /* HS256/RS256 key confusion got through */
    if (mode == 3) {
      /* Only an HS256 header may verify. libjwt reads the decoded header as
       * a C string (json_loads), so do the same: bytes after a NUL are ignored. */
      char *htext = strndup((const char *)rest, (size_t)((const uint8_t *)memchr(rest, '\n', n) - rest));
      json_t *h = htext ? json_loads(htext, 0, NULL) : NULL;
      const char *alg = json_string_value(json_object_get(h, "alg"));
      /* libjwt matches alg names ignoring case ("hS256" is HS256): harmless,
       * the pinned algorithm and key are what count. */
      if (htext && (!alg || strcasecmp(alg, "HS256") != 0)) abort();
      json_decref(h);
      free(htext);
    }
    claims_free(&c);
  } else if (c.prg_pg) {
    abort(); /* nothing may stay allocated on failure */
  }
  free(tok);
  return 0;
}
