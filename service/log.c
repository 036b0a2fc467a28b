#include "service/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

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

void log_request(const char *request_id, const char *method, const char *route, int status,
                 long long duration_us, const char *role, const char *subject) {
  char ts[40];
  now_rfc3339(ts, sizeof ts);
  emit(stdout, json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:s, s:s}", "time", ts, "request_id",
                         request_id, "method", method ? method : "", "route", route ? route : "",
                         "status", status, "duration_ms", (double)duration_us / 1000.0, "role",
                         role ? role : "", "subject", subject ? subject : ""));
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
