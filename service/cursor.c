#include "service/cursor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "service/validate.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url(const unsigned char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = b64[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = b64[v & 63];
  }
  out[o] = 0;
  return o;
}

static int unb64(char c) {
  const char *p = c ? strchr(b64, c) : NULL;
  return p ? (int)(p - b64) : -1;
}

/* Decodes base64url without padding; returns length or -1. */
static long unb64url(const char *in, size_t n, unsigned char *out, size_t cap) {
  size_t o = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int d = unb64(in[i]);
    if (d < 0) return -1;
    v = (v << 6) | (unsigned)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap) return -1;
      out[o++] = (unsigned char)((v >> bits) & 0xff);
    }
  }
  return (long)o;
}

static void sign(const char *secret, const char *payload, size_t n, char *out) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)payload, n, mac, &maclen);
  b64url(mac, 16, out); /* 128 bits are plenty to detect tampering */
}

void cursor_encode(const char *secret, const char *scope, long long seq, char *out, size_t outlen) {
  char payload[96];
  int n = snprintf(payload, sizeof payload, "%s:%lld", scope, seq);
  if (n < 0 || (size_t)n >= sizeof payload || outlen < 160) {
    if (outlen) out[0] = 0;
    return;
  }
  size_t o = b64url((const unsigned char *)payload, (size_t)n, out);
  out[o++] = '.';
  sign(secret, payload, (size_t)n, out + o);
}

bool cursor_decode(const char *secret, const char *scope, const char *cursor, long long *seq) {
  if (!cursor || strlen(cursor) > 200) return false;
  const char *dot = strchr(cursor, '.');
  if (!dot) return false;
  unsigned char payload[128];
  long n = unb64url(cursor, (size_t)(dot - cursor), payload, sizeof payload - 1);
  if (n <= 0) return false;
  payload[n] = 0;
  /* base64url has spare bits: only the canonical encoding of the payload is
   * accepted, so a changed character can never decode to the same bytes */
  char canon[180];
  size_t cl = b64url(payload, (size_t)n, canon);
  if (cl != (size_t)(dot - cursor) || memcmp(canon, cursor, cl) != 0) return false;
  char expect[40];
  sign(secret, (const char *)payload, (size_t)n, expect);
  if (strlen(dot + 1) != strlen(expect) || CRYPTO_memcmp(dot + 1, expect, strlen(expect)) != 0)
    return false;
  size_t sl = strlen(scope);
  if (strncmp((const char *)payload, scope, sl) != 0 || payload[sl] != ':') return false;
  return v_strtonum((const char *)payload + sl + 1, 0, 9007199254740991LL, seq);
}
