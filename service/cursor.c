#include "service/cursor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdbool.h>
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

/* SHA-256 fetched once: OpenSSL 3's one-shot HMAC() looks the MAC and the
 * digest up by name on every call (a tenth of a page's CPU in the service). */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void) { sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

/* HMAC-SHA256 (RFC 2104) of a payload of at most 128 bytes. */
static bool hmac_sha256(const char *key, const char *msg, size_t n, unsigned char mac[32]) {
  pthread_once(&sha256_once, sha256_fetch);
  unsigned char k[64] = {0}, buf[64 + 128];
  unsigned int len = 0;
  size_t kn = strlen(key);
  if (!sha256 || n > 128) return false;
  if (kn > sizeof k) {
    if (!EVP_Digest(key, kn, k, &len, sha256, NULL)) return false;
  } else {
    memcpy(k, key, kn);
  }
  for (int i = 0; i < 64; i++) buf[i] = k[i] ^ 0x36;
  memcpy(buf + 64, msg, n);
  if (!EVP_Digest(buf, 64 + n, mac, &len, sha256, NULL)) return false;
  for (int i = 0; i < 64; i++) buf[i] = k[i] ^ 0x5c;
  memcpy(buf + 64, mac, 32);
  bool ok = EVP_Digest(buf, 64 + 32, mac, &len, sha256, NULL) == 1;
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(buf, sizeof buf);
  return ok;
}

static void sign(const char *secret, const char *payload, size_t n, char *out) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  if (!hmac_sha256(secret, payload, n, mac))
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
