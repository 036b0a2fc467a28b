#include "service/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void now_rfc3339(char *out, size_t len) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, len, "%s.%03ldZ", base, (long)(tv.tv_usec / 1000));
}

/* jansson escapes whatever a client put in the request id or route. */
static void emit(FILE *f, json_t *line) {
  char *s = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
  json_decref(line);
  if (!s) return;
  fprintf(f, "%s\n", s);
  free(s);
}

/* Appends s to out[*o..cap) as the inside of a JSON string (quotes, backslash
 * and control characters escaped, a byte that is not part of valid UTF-8 as
 * U+FFFD), at most max bytes of output; stops early rather than overflow. */
static void put_json_chars(char *out, size_t *o, size_t cap, const char *s, size_t max) {
  static const char hex[] = "0123456789abcdef";
  size_t end = *o + max < cap ? *o + max : cap;
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    char esc[8];
    const char *add = (const char *)p;
    size_t n = 1;
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\', esc[1] = (char)*p, add = esc, n = 2;
    } else if (*p < 0x20) {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15], add = esc, n = 6;
    } else if (*p >= 0x80) {
      size_t k = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
      for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80) k = 0;
      if (k == 2 && *p < 0xc2) k = 0; /* overlong */
      if (k) {
        n = k;
      } else {
        add = "\xef\xbf\xbd", n = 3;
      }
    }
    if (*o + n > end) break;
    memcpy(out + *o, add, n);
    *o += n;
    p += (add == (const char *)p) ? n : 1;
  }
}

static void put_raw(char *out, size_t *o, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (*o + n > cap) n = cap - *o;
  memcpy(out + *o, s, n);
  *o += n;
}

/* The request line is built by hand into a buffer of this thread (no JSON
 * library, no allocation) and written with one write(2): a line is never
 * interleaved with another thread's, and threads do not queue on stdout's
 * lock for the time of a system call. */
void log_request(const char *request_id, const char *method, const char *route, int status,
                 long long duration_us, const char *role, const char *subject) {
  char line[1024], ts[40], num[64];
  size_t o = 0, cap = sizeof line - 1; /* room for the newline */
  now_rfc3339(ts, sizeof ts);
  put_raw(line, &o, cap, "{\"time\":\"");
  put_raw(line, &o, cap, ts);
  put_raw(line, &o, cap, "\",\"request_id\":\"");
  put_json_chars(line, &o, cap, request_id, 200);
  put_raw(line, &o, cap, "\",\"method\":\"");
  put_json_chars(line, &o, cap, method, 100);
  put_raw(line, &o, cap, "\",\"route\":\"");
  put_json_chars(line, &o, cap, route, 300);
  if (duration_us < 0) duration_us = 0;
  snprintf(num, sizeof num, "\",\"status\":%d,\"duration_ms\":%lld.%03lld,\"role\":\"", status,
           duration_us / 1000, duration_us % 1000);
  put_raw(line, &o, cap, num);
  put_json_chars(line, &o, cap, role, 50);
  put_raw(line, &o, cap, "\",\"subject\":\"");
  put_json_chars(line, &o, cap, subject, 100);
  put_raw(line, &o, cap, "\"}");
  line[o++] = '\n';
  for (size_t done = 0; done < o;) {
    ssize_t w = write(STDOUT_FILENO, line + done, o - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
}

static void vlog(FILE *f, const char *level, const char *rid, const char *fmt, va_list ap) {
  char msg[1024], ts[40];
  vsnprintf(msg, sizeof msg, fmt, ap);
  now_rfc3339(ts, sizeof ts);
  json_t *line = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level, "message", msg);
  if (line && rid && *rid) json_object_set_new(line, "request_id", json_string(rid));
  emit(f, line);
}

void log_info(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(stdout, "info", NULL, fmt, ap);
  va_end(ap);
}

void log_error(const char *rid, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(stderr, "error", rid, fmt, ap);
  va_end(ap);
}
