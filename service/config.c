#include "service/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/validate.h"

static char *dup_or_null(const char *s) { return (s && *s) ? strdup(s) : NULL; }

static int fail(char *err, size_t errlen, const char *fmt,
                const char *name, const char *value) {
  snprintf(err, errlen, fmt, name, value ? value : "");
  return -1;
}

static int int_var(const char *(*get)(const char *), const char *name, long long def,
                   long long min, long long max, long long *out, char *err, size_t errlen) {
  const char *v = get(name);
  if (!v || !*v) {
    *out = def;
    return 0;
  }
  if (!v_strtonum(v, min, max, out)) {
    snprintf(err, errlen, "%s must be an integer between %lld and %lld, got '%s'", name, min, max, v);
    return -1;
  }
  return 0;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, len = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (1u << 20)) break;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0) break;
  }
  fclose(f);
  if (buf) buf[len] = 0;
  return buf;
}

int config_load(struct config *cfg, const char *(*get)(const char *), char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  const char *v;
  long long n;

  cfg->database_url = strdup((v = get("KOPPEL_DATABASE_URL")) && *v ? v : "dbname=koppel");

  v = get("KOPPEL_LISTEN");
  if (!v || !*v) v = "127.0.0.1:8080";
  const char *colon = strrchr(v, ':');
  if (!colon || colon == v || !v_strtonum(colon + 1, 1, 65535, &n))
    return fail(err, errlen, "%s must be host:port with a port 1..65535, got '%s'", "KOPPEL_LISTEN", v);
  cfg->listen_host = strndup(v, (size_t)(colon - v));
  cfg->listen_port = (unsigned short)n;

  v = get("KOPPEL_JWT_ALG");
  if (!v || !*v || strcmp(v, "HS256") == 0) cfg->jwt_alg = CFG_HS256;
  else if (strcmp(v, "RS256") == 0) cfg->jwt_alg = CFG_RS256;
  else if (strcmp(v, "ES256") == 0) cfg->jwt_alg = CFG_ES256;
  else return fail(err, errlen, "%s must be HS256, RS256 or ES256, got '%s'", "KOPPEL_JWT_ALG", v);

  v = get("KOPPEL_JWT_SECRET");
  if (v && *v) {
    if (strlen(v) < 32)
      return fail(err, errlen, "%s must be at least 32 characters%s", "KOPPEL_JWT_SECRET", "");
    cfg->jwt_secret = strdup(v);
  } else if (cfg->jwt_alg == CFG_HS256) {
    cfg->jwt_secret = strdup(KOPPEL_DEV_SECRET);
    cfg->dev_secret = true;
  }
  if (cfg->jwt_alg != CFG_HS256) {
    v = get("KOPPEL_JWT_PUBLIC_KEY_FILE");
    if (!v || !*v)
      return fail(err, errlen, "%s is required when KOPPEL_JWT_ALG is RS256 or ES256%s",
                  "KOPPEL_JWT_PUBLIC_KEY_FILE", "");
    cfg->jwt_public_key = read_file(v);
    if (!cfg->jwt_public_key || !strstr(cfg->jwt_public_key, "-----BEGIN"))
      return fail(err, errlen, "%s must name a readable PEM public key file, got '%s'",
                  "KOPPEL_JWT_PUBLIC_KEY_FILE", v);
  }
  cfg->jwt_issuer = dup_or_null(get("KOPPEL_JWT_ISSUER"));
  cfg->jwt_audience = dup_or_null(get("KOPPEL_JWT_AUDIENCE"));
  if (int_var(get, "KOPPEL_JWT_LEEWAY", 60, 0, 600, &n, err, errlen)) return -1;
  cfg->jwt_leeway = (long)n;

  cfg->export_key = strdup((v = get("KOPPEL_EXPORT_KEY")) && *v ? v : "koppel-development-export-key");
  v = get("KOPPEL_CURSOR_SECRET");
  if (v && *v) cfg->cursor_secret = strdup(v);
  else {
    char buf[512];
    snprintf(buf, sizeof buf, "cursor:%s", cfg->jwt_secret ? cfg->jwt_secret : cfg->export_key);
    cfg->cursor_secret = strdup(buf);
  }

  v = get("KOPPEL_DB_PREPARED");
  if (!v || !*v || strcmp(v, "on") == 0) cfg->db_prepared = true;
  else if (strcmp(v, "off") == 0) cfg->db_prepared = false;
  else return fail(err, errlen, "%s must be on or off, got '%s'", "KOPPEL_DB_PREPARED", v);
  v = get("KOPPEL_CORS_ORIGINS");
  if (v && *v) {
    for (const char *o = v; *o;) {
      size_t len = strcspn(o, ",");
      while (len && *o == ' ') {
        o++;
        len--;
      }
      bool ok = (len == 1 && *o == '*') ||
                (len > 7 && (strncmp(o, "http://", 7) == 0 || strncmp(o, "https://", 8) == 0));
      if (!ok) return fail(err, errlen, "%s must be \"*\" or a comma-separated list of http(s) origins, got '%s'",
                           "KOPPEL_CORS_ORIGINS", v);
      o += len;
      if (*o == ',') o++;
    }
    cfg->cors_origins = strdup(v);
  }
  if (int_var(get, "KOPPEL_MAX_BODY", 1048576, 1024, 64LL * 1048576, &n, err, errlen)) return -1;
  cfg->max_body = (size_t)n;
  if (int_var(get, "KOPPEL_POOL_SIZE", 8, 1, 128, &n, err, errlen)) return -1;
  cfg->pool_size = (int)n;
  if (int_var(get, "KOPPEL_POOL_WAIT_MS", 2000, 1, 60000, &n, err, errlen)) return -1;
  cfg->pool_wait_ms = (int)n;
  if (int_var(get, "KOPPEL_STATEMENT_TIMEOUT_MS", 5000, 10, 600000, &n, err, errlen)) return -1;
  cfg->statement_timeout_ms = (int)n;
  if (int_var(get, "KOPPEL_THREADS", cfg->pool_size, 1, 256, &n, err, errlen)) return -1;
  cfg->threads = (int)n;
  if (int_var(get, "KOPPEL_IDLE_TIMEOUT_S", 60, 1, 3600, &n, err, errlen)) return -1;
  cfg->idle_timeout_s = (int)n;
  v = get("KOPPEL_WEBHOOK_ALLOW_PRIVATE");
  if (!v || !*v || strcmp(v, "0") == 0 || strcmp(v, "off") == 0) cfg->webhook_allow_private = false;
  else if (strcmp(v, "1") == 0 || strcmp(v, "on") == 0) cfg->webhook_allow_private = true;
  else return fail(err, errlen, "%s must be 0 or 1, got '%s'", "KOPPEL_WEBHOOK_ALLOW_PRIVATE", v);
  if (int_var(get, "KOPPEL_RATE_LIMIT", 0, 0, 1000000, &n, err, errlen)) return -1;
  cfg->rate_limit = (int)n;
  if (int_var(get, "KOPPEL_RATE_BURST", n ? (n > 500000 ? 1000000 : 2 * n) : 1, 1, 1000000, &n, err, errlen))
    return -1;
  cfg->rate_burst = (int)n;
  return 0;
}

void config_free(struct config *cfg) {
  free(cfg->database_url);
  free(cfg->listen_host);
  free(cfg->jwt_secret);
  free(cfg->jwt_public_key);
  free(cfg->jwt_issuer);
  free(cfg->jwt_audience);
  free(cfg->export_key);
  free(cfg->cursor_secret);
  free(cfg->cors_origins);
  memset(cfg, 0, sizeof *cfg);
}

bool config_origin_allowed(const struct config *cfg, const char *origin) {
  if (!cfg->cors_origins || !origin || !*origin) return false;
  size_t ol = strlen(origin);
  for (const char *o = cfg->cors_origins; *o;) {
    while (*o == ' ') o++;
    size_t n = strcspn(o, ",");
    size_t m = n;
    while (m && o[m - 1] == ' ') m--;
    if ((m == 1 && *o == '*') || (m == ol && strncmp(o, origin, m) == 0)) return true;
    o += n;
    if (*o == ',') o++;
  }
  return false;
}
