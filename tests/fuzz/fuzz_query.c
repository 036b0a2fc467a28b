/* libFuzzer target: a query string as Koppel's list handlers read it. The
 * bytes are split on '&' and the first '=', percent-decoded ('+' is a space)
 * and cut at a decoded NUL, as libmicrohttpd hands values over; each value
 * then goes through the checks req_page and the req_query_* helpers apply:
 * v_strtonum for limit (1..200), v_uuid, v_date, v_timestamp, v_enum and
 * cursor_decode. Besides sanitizer findings, it aborts when a check accepts
 * what an independent reading rejects, or the other way round (a value the
 * service passes on that PostgreSQL then refuses would be a 500 or a 422
 * instead of a 400 naming the parameter). The whole string must also be
 * UTF-8 once decoded exactly when v_query_utf8 says so. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "service/cursor.h"
#include "service/validate.h"

#define SECRET "cursor:fuzz-secret-0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const STATUSES[] = {"applied", "screened", "waiting", "matched", "active",
                                       "completed", "withdrawn", "rejected", NULL};

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes s[0..n) into out (n + 1 bytes), stopping at a decoded NUL. */
static void decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '+') c = ' ';
    else if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    }
    if (c == 0) break;
    out[o++] = c;
  }
  out[o] = 0;
}

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return n > 0;
}

/* The calendar, read by the C library instead of validate.c's table. */
static bool ref_ymd(int y, int m, int d) {
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > 31) return false;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
  time_t t = timegm(&tm);
  struct tm back;
  if (!gmtime_r(&t, &back)) return false;
  return back.tm_year == y - 1900 && back.tm_mon == m - 1 && back.tm_mday == d;
}

static bool ref_date(const char *s) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!all_digits(s, 4) || !all_digits(s + 5, 2) || !all_digits(s + 8, 2)) return false;
  return ref_ymd(atoi(s), atoi(s + 5), atoi(s + 8));
}

/* RFC 3339 date-time: date "T" hh:mm:ss[.frac] ("Z" | +hh:mm | -hh:mm), leap second allowed. */
static bool ref_timestamp(const char *s) {
  size_t n = strlen(s);
  if (n < 20) return false;
  char date[11];
  memcpy(date, s, 10);
  date[10] = 0;
  if (!ref_date(date) || (s[10] != 'T' && s[10] != 't')) return false;
  const char *t = s + 11;
  if (!all_digits(t, 2) || t[2] != ':' || !all_digits(t + 3, 2) || t[5] != ':' || !all_digits(t + 6, 2)) return false;
  if (atoi(t) > 23 || atoi(t + 3) > 59 || atoi(t + 6) > 60) return false;
  const char *z = t + 8;
  if (*z == '.') {
    const char *f = ++z;
    while (*z >= '0' && *z <= '9') z++;
    if (z == f) return false;
  }
  if ((*z == 'Z' || *z == 'z') && z[1] == 0) return true;
  if ((*z == '+' || *z == '-') && strlen(z) == 6 && all_digits(z + 1, 2) && z[3] == ':' && all_digits(z + 4, 2))
    return atoi(z + 1) <= 23 && atoi(z + 4) <= 59;
  return false;
}

static bool ref_uuid(const char *s) {
  if (strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && hexval(s[i]) < 0) return false;
  }
  return true;
}

/* limit: optional leading zeros, then 1..200, nothing else. */
static bool ref_limit(const char *s, long long *v) {
  size_t n = strlen(s);
  if (!all_digits(s, n)) return false;
  while (n > 1 && *s == '0') s++, n--;
  if (n > 3) return false;
  *v = atoll(s);
  return *v >= 1 && *v <= 200;
}

static void check_value(const char *v) {
  long long n = 0, ref = 0;
  bool ok = v_strtonum(v, 1, 200, &n);
  if (ok != ref_limit(v, &ref) || (ok && n != ref)) abort();
  if (v_uuid(v) != ref_uuid(v)) abort();
  if (v_date(v) != ref_date(v)) abort();
  if (v_timestamp(v) != ref_timestamp(v)) abort();
  int e = v_enum(v, STATUSES);
  if (e >= 0 && strcmp(v, STATUSES[e]) != 0) abort();
  long long seq = -1;
  if (cursor_decode(SECRET, "participants", v, &seq)) {
    char c[200];
    cursor_encode(SECRET, "participants", seq, c, sizeof c);
    if (strcmp(c, v) != 0) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *q = malloc(size + 1), *buf = malloc(size + 1);
  if (!q || !buf) {
    free(q);
    free(buf);
    return 0;
  }
  memcpy(q, data, size);
  q[size] = 0;
  size_t len = strnlen(q, size);
  /* v_query_utf8 (req_check_query refuses a query string that fails it: the
   * server would drop such a parameter unseen) against jansson's UTF-8 check
   * of the whole string, percent-decoded without stopping at a NUL */
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = q[i];
    if (c == '%' && hexval(q[i + 1]) >= 0 && hexval(q[i + 2]) >= 0) {
      c = (char)(hexval(q[i + 1]) * 16 + hexval(q[i + 2]));
      i += 2;
    }
    buf[o++] = c;
  }
  json_t *ref = json_stringn(buf, o);
  if (v_query_utf8(q) != (ref != NULL)) abort();
  json_decref(ref);
  for (size_t start = 0; start <= len;) {
    size_t end = start;
    while (end < len && q[end] != '&') end++;
    const char *eq = memchr(q + start, '=', end - start);
    size_t klen = eq ? (size_t)(eq - (q + start)) : end - start;
    decode(q + start, klen, buf);
    check_value(buf); /* a key is checked as a value too: it reaches v_enum via req_check_query */
    if (eq) {
      decode(eq + 1, (size_t)(q + end - (eq + 1)), buf);
      check_value(buf);
    }
    start = end + 1;
  }
  free(q);
  free(buf);
  return 0;
}
