/* Configuration from the environment (KOPPEL_*), each value with a safe default. */
#ifndef KOPPEL_CONFIG_H
#define KOPPEL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

enum jwt_alg_cfg { CFG_HS256, CFG_RS256, CFG_ES256 };

struct config {
  char *database_url;       /* KOPPEL_DATABASE_URL, libpq conninfo */
  char *listen_host;        /* from KOPPEL_LISTEN host:port */
  unsigned short listen_port;
  enum jwt_alg_cfg jwt_alg; /* KOPPEL_JWT_ALG: HS256 (default), RS256, ES256 */
  char *jwt_secret;         /* KOPPEL_JWT_SECRET, HS256 */
  char *jwt_public_key;     /* contents of KOPPEL_JWT_PUBLIC_KEY_FILE (RS256/ES256) */
  char *jwt_issuer;         /* KOPPEL_JWT_ISSUER, NULL: not checked */
  char *jwt_audience;       /* KOPPEL_JWT_AUDIENCE, NULL: not checked */
  long jwt_leeway;          /* KOPPEL_JWT_LEEWAY seconds, default 60 */
  char *export_key;         /* KOPPEL_EXPORT_KEY */
  char *cursor_secret;      /* KOPPEL_CURSOR_SECRET, default derived from the JWT secret */
  size_t max_body;          /* KOPPEL_MAX_BODY bytes, default 1 MiB */
  int pool_size;            /* KOPPEL_POOL_SIZE, default 8 */
  int pool_wait_ms;         /* KOPPEL_POOL_WAIT_MS, default 2000: then 503 */
  int statement_timeout_ms; /* KOPPEL_STATEMENT_TIMEOUT_MS, default 5000 */
  int threads;              /* KOPPEL_THREADS, HTTP worker threads, default = pool size */
  bool db_prepared;         /* KOPPEL_DB_PREPARED on (default) | off: off for pgbouncer in transaction mode */
  char *cors_origins;       /* KOPPEL_CORS_ORIGINS: comma-separated origins, "*" or NULL (no CORS) */
  int idle_timeout_s;       /* KOPPEL_IDLE_TIMEOUT_S, default 60: an idle connection is closed after it */
  bool webhook_allow_private; /* KOPPEL_WEBHOOK_ALLOW_PRIVATE=1: webhook targets may be private addresses */
  int rate_limit;           /* KOPPEL_RATE_LIMIT requests per second per subject, 0 (default): no limit */
  int rate_burst;           /* KOPPEL_RATE_BURST, the bucket size, default 2 x the rate */
  bool dev_secret;          /* true when the built-in development secret is in use */
};

/* Reads the configuration through get (getenv in production, a table in tests).
 * Returns 0, or -1 with a message naming the variable and the rule in err.
 * Call config_free afterwards in both cases. */
int config_load(struct config *cfg, const char *(*get)(const char *name), char *err, size_t errlen);
void config_free(struct config *cfg);
/* Whether origin (the Origin header) is allowed by cfg->cors_origins. */
bool config_origin_allowed(const struct config *cfg, const char *origin);

#define KOPPEL_DEV_SECRET "koppel-development-secret-change-me-0123456789"

#endif
