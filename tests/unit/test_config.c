/* service/config.c: defaults, every rule, read through an injected getter. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "service/config.h"

/* The environment of one test: name, value, name, value, ..., NULL. */
static const char *const *env;
static int lookups_outside_koppel;

static const char *get(const char *name) {
  if (strncmp(name, "KOPPEL_", 7) != 0) lookups_outside_koppel++;
  for (size_t i = 0; env && env[i]; i += 2)
    if (strcmp(env[i], name) == 0) return env[i + 1];
  return NULL;
}

#define ENV(...)                                         \
  do {                                                   \
    static const char *const e_[] = {__VA_ARGS__, NULL}; \
    env = e_;                                            \
  } while (0)

static char err[512];

static int load(struct config *cfg) {
  err[0] = 0;
  return config_load(cfg, get, err, sizeof err);
}

/* Expects a refusal whose message names the variable (and mentions what). */
static void expect_bad(const char *name, const char *value, const char *what) {
  const char *const e[] = {name, value, NULL};
  env = e;
  struct config cfg;
  if (load(&cfg) == 0) {
    config_free(&cfg);
    fail_msg("%s=\"%s\" was accepted", name, value);
  }
  if (!strstr(err, name)) fail_msg("message for %s does not name it: %s", name, err);
  if (what && !strstr(err, what)) fail_msg("message for %s=%s lacks \"%s\": %s", name, value, what, err);
  config_free(&cfg); /* must be safe after a failure */
  env = NULL;
}

static void expect_good(const char *name, const char *value, struct config *cfg) {
  static const char *e[3];
  e[0] = name;
  e[1] = value;
  e[2] = NULL;
  env = e;
  if (load(cfg) != 0) fail_msg("%s=\"%s\" was refused: %s", name, value, err);
  env = NULL;
}

static void defaults(void **state) {
  (void)state;
  env = NULL;
  lookups_outside_koppel = 0;
  struct config cfg;
  assert_int_equal(load(&cfg), 0);
  assert_string_equal(cfg.database_url, "dbname=koppel");
  assert_string_equal(cfg.listen_host, "127.0.0.1");
  assert_int_equal(cfg.listen_port, 8080);
  assert_int_equal(cfg.jwt_alg, CFG_HS256);
  assert_string_equal(cfg.jwt_secret, KOPPEL_DEV_SECRET);
  assert_true(cfg.dev_secret);
  assert_null(cfg.jwt_public_key);
  assert_null(cfg.jwt_issuer);
  assert_null(cfg.jwt_audience);
  assert_int_equal(cfg.jwt_leeway, 60);
  assert_non_null(cfg.export_key);
  assert_string_equal(cfg.cursor_secret, "cursor:" KOPPEL_DEV_SECRET);
  assert_int_equal(cfg.max_body, 1048576);
  assert_int_equal(cfg.pool_size, 8);
  assert_int_equal(cfg.pool_wait_ms, 2000);
  assert_int_equal(cfg.statement_timeout_ms, 5000);
  assert_int_equal(cfg.threads, 8);
  assert_int_equal(lookups_outside_koppel, 0);
  config_free(&cfg);
  assert_null(cfg.database_url); /* config_free leaves a zeroed struct */
  config_free(&cfg);             /* and a second call is harmless */
}

static void empty_values_are_defaults(void **state) {
  (void)state;
  ENV("KOPPEL_DATABASE_URL", "", "KOPPEL_LISTEN", "", "KOPPEL_JWT_ALG", "", "KOPPEL_JWT_SECRET", "",
      "KOPPEL_JWT_ISSUER", "", "KOPPEL_JWT_AUDIENCE", "", "KOPPEL_POOL_SIZE", "", "KOPPEL_THREADS", "");
  struct config cfg;
  assert_int_equal(load(&cfg), 0);
  assert_string_equal(cfg.database_url, "dbname=koppel");
  assert_int_equal(cfg.listen_port, 8080);
  assert_true(cfg.dev_secret);
  assert_null(cfg.jwt_issuer);
  assert_null(cfg.jwt_audience);
  assert_int_equal(cfg.pool_size, 8);
  config_free(&cfg);
}

static void values_are_taken(void **state) {
  (void)state;
  ENV("KOPPEL_DATABASE_URL", "host=db dbname=k user=k", "KOPPEL_LISTEN", "0.0.0.0:9000",
      "KOPPEL_JWT_SECRET", "0123456789abcdef0123456789abcdef", "KOPPEL_JWT_ISSUER", "https://idp",
      "KOPPEL_JWT_AUDIENCE", "koppel", "KOPPEL_JWT_LEEWAY", "5", "KOPPEL_EXPORT_KEY", "ek",
      "KOPPEL_CURSOR_SECRET", "cs", "KOPPEL_MAX_BODY", "2048", "KOPPEL_POOL_SIZE", "3",
      "KOPPEL_POOL_WAIT_MS", "100", "KOPPEL_STATEMENT_TIMEOUT_MS", "250");
  struct config cfg;
  assert_int_equal(load(&cfg), 0);
  assert_string_equal(cfg.database_url, "host=db dbname=k user=k");
  assert_string_equal(cfg.listen_host, "0.0.0.0");
  assert_int_equal(cfg.listen_port, 9000);
  assert_string_equal(cfg.jwt_secret, "0123456789abcdef0123456789abcdef"); /* exactly 32 */
  assert_false(cfg.dev_secret);
  assert_string_equal(cfg.jwt_issuer, "https://idp");
  assert_string_equal(cfg.jwt_audience, "koppel");
  assert_int_equal(cfg.jwt_leeway, 5);
  assert_string_equal(cfg.export_key, "ek");
  assert_string_equal(cfg.cursor_secret, "cs");
  assert_int_equal(cfg.max_body, 2048);
  assert_int_equal(cfg.pool_size, 3);
  assert_int_equal(cfg.threads, 3); /* follows the pool size unless set */
  assert_int_equal(cfg.pool_wait_ms, 100);
  assert_int_equal(cfg.statement_timeout_ms, 250);
  config_free(&cfg);
}

static void cursor_secret_derived(void **state) {
  (void)state;
  ENV("KOPPEL_JWT_SECRET", "0123456789abcdef0123456789abcdefXYZ");
  struct config cfg;
  assert_int_equal(load(&cfg), 0);
  assert_string_equal(cfg.cursor_secret, "cursor:0123456789abcdef0123456789abcdefXYZ");
  /* Never the JWT secret itself: a cursor must not double as a token MAC. */
  assert_string_not_equal(cfg.cursor_secret, cfg.jwt_secret);
  config_free(&cfg);
}

static void listen_parsing(void **state) {
  (void)state;
  struct config cfg;
  expect_good("KOPPEL_LISTEN", "localhost:1", &cfg);
  assert_string_equal(cfg.listen_host, "localhost");
  assert_int_equal(cfg.listen_port, 1);
  config_free(&cfg);
  expect_good("KOPPEL_LISTEN", "10.0.0.7:65535", &cfg);
  assert_string_equal(cfg.listen_host, "10.0.0.7");
  assert_int_equal(cfg.listen_port, 65535);
  config_free(&cfg);
  /* The last colon splits, so a bracketed IPv6 host keeps its brackets. */
  expect_good("KOPPEL_LISTEN", "[::1]:8081", &cfg);
  assert_string_equal(cfg.listen_host, "[::1]");
  assert_int_equal(cfg.listen_port, 8081);
  config_free(&cfg);

  const char *bad[] = {"8080", ":8080", "host", "host:", "host:0", "host:65536", "host:80x",
                       "host:-1", "host: 80", "host:+80", "host:99999999999999999999", NULL};
  for (size_t i = 0; bad[i]; i++) expect_bad("KOPPEL_LISTEN", bad[i], "port");
}

static void jwt_alg_values(void **state) {
  (void)state;
  struct config cfg;
  expect_good("KOPPEL_JWT_ALG", "HS256", &cfg);
  assert_int_equal(cfg.jwt_alg, CFG_HS256);
  config_free(&cfg);
  const char *bad[] = {"hs256", "HS512", "none", "RS512", "ES384", "HS256 ", NULL};
  for (size_t i = 0; bad[i]; i++) expect_bad("KOPPEL_JWT_ALG", bad[i], "HS256");
}

static void short_secret(void **state) {
  (void)state;
  expect_bad("KOPPEL_JWT_SECRET", "short", "32");
  expect_bad("KOPPEL_JWT_SECRET", "0123456789abcdef0123456789abcde", "32"); /* 31 */
}

static char keyfile[64];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void public_key_file(void **state) {
  (void)state;
  struct config cfg;
  /* RS256 / ES256 without a key file */
  ENV("KOPPEL_JWT_ALG", "RS256");
  assert_int_equal(load(&cfg), -1);
  assert_non_null(strstr(err, "KOPPEL_JWT_PUBLIC_KEY_FILE"));
  config_free(&cfg);
  ENV("KOPPEL_JWT_ALG", "ES256", "KOPPEL_JWT_PUBLIC_KEY_FILE", "");
  assert_int_equal(load(&cfg), -1);
  assert_non_null(strstr(err, "KOPPEL_JWT_PUBLIC_KEY_FILE"));
  config_free(&cfg);

  /* A file that is missing, or not PEM */
  ENV("KOPPEL_JWT_ALG", "RS256", "KOPPEL_JWT_PUBLIC_KEY_FILE", "/nonexistent/koppel/key.pem");
  assert_int_equal(load(&cfg), -1);
  assert_non_null(strstr(err, "/nonexistent/koppel/key.pem"));
  config_free(&cfg);

  snprintf(keyfile, sizeof keyfile, "/tmp/koppel-unit-key-%d.pem", (int)getpid());
  static const char *e[5];
  e[0] = "KOPPEL_JWT_ALG";
  e[1] = "RS256";
  e[2] = "KOPPEL_JWT_PUBLIC_KEY_FILE";
  e[3] = keyfile;
  e[4] = NULL;
  env = e;
  write_file(keyfile, "this is not a key\n");
  assert_int_equal(load(&cfg), -1);
  assert_non_null(strstr(err, "PEM"));
  config_free(&cfg);

  const char *pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
                    "-----END PUBLIC KEY-----\n";
  write_file(keyfile, pem);
  assert_int_equal(load(&cfg), 0);
  assert_int_equal(cfg.jwt_alg, CFG_RS256);
  assert_string_equal(cfg.jwt_public_key, pem);
  /* No HS256 secret is invented for RS256: dev tokens cannot be signed. */
  assert_null(cfg.jwt_secret);
  assert_false(cfg.dev_secret);
  assert_non_null(cfg.cursor_secret);
  assert_true(strncmp(cfg.cursor_secret, "cursor:", 7) == 0);
  config_free(&cfg);

  /* A directory is not a readable key file. */
  e[3] = "/tmp";
  assert_int_equal(load(&cfg), -1);
  config_free(&cfg);
  unlink(keyfile);
}

struct int_rule {
  const char *name;
  const char *lo, *hi;         /* accepted bounds */
  const char *below, *above;   /* refused neighbours */
};

static void integer_variables(void **state) {
  (void)state;
  static const struct int_rule rules[] = {
    {"KOPPEL_JWT_LEEWAY", "0", "600", "-1", "601"},
    {"KOPPEL_MAX_BODY", "1024", "67108864", "1023", "67108865"},
    {"KOPPEL_POOL_SIZE", "1", "128", "0", "129"},
    {"KOPPEL_POOL_WAIT_MS", "1", "60000", "0", "60001"},
    {"KOPPEL_STATEMENT_TIMEOUT_MS", "10", "600000", "9", "600001"},
    {"KOPPEL_THREADS", "1", "256", "0", "257"},
    {"KOPPEL_IDLE_TIMEOUT_S", "1", "3600", "0", "3601"},
    {"KOPPEL_RATE_LIMIT", "0", "1000000", "-1", "1000001"},
    {"KOPPEL_RATE_BURST", "1", "1000000", "0", "1000001"},
  };
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    const struct int_rule *r = &rules[i];
    struct config cfg;
    expect_good(r->name, r->lo, &cfg);
    config_free(&cfg);
    expect_good(r->name, r->hi, &cfg);
    config_free(&cfg);
    expect_bad(r->name, r->below, "between");
    expect_bad(r->name, r->above, "between");
    expect_bad(r->name, "abc", "between");
    expect_bad(r->name, "12abc", "between");
    expect_bad(r->name, " 12", "between");
    expect_bad(r->name, "99999999999999999999999", "between");
  }
  struct config cfg;
  expect_good("KOPPEL_THREADS", "32", &cfg);
  assert_int_equal(cfg.threads, 32);
  assert_int_equal(cfg.pool_size, 8);
  config_free(&cfg);
  expect_good("KOPPEL_JWT_LEEWAY", "0", &cfg);
  assert_int_equal(cfg.jwt_leeway, 0); /* 0 is a value, not "use the default" */
  config_free(&cfg);
}

static void message_quotes_value(void **state) {
  (void)state;
  expect_bad("KOPPEL_POOL_SIZE", "lots", "'lots'");
  expect_bad("KOPPEL_LISTEN", "nowhere", "'nowhere'");
  /* A truncated message still ends in a NUL inside the buffer. */
  ENV("KOPPEL_POOL_SIZE", "x");
  struct config cfg;
  char small[16];
  memset(small, 'z', sizeof small);
  assert_int_equal(config_load(&cfg, get, small, sizeof small), -1);
  assert_int_equal(small[sizeof small - 1], 0);
  config_free(&cfg);
}

/* KOPPEL_WEBHOOK_ALLOW_PRIVATE: off by default; 0/off and 1/on; anything else stops the process. */
static void webhook_allow_private(void **state) {
  (void)state;
  struct config cfg;
  ENV("KOPPEL_JWT_SECRET", "0123456789abcdef0123456789abcdef");
  assert_int_equal(load(&cfg), 0);
  assert_false(cfg.webhook_allow_private);
  assert_int_equal(cfg.idle_timeout_s, 60);
  config_free(&cfg);
  static const char *const on[] = {"1", "on"}, *const off[] = {"0", "off", ""};
  for (size_t i = 0; i < 2; i++) {
    expect_good("KOPPEL_WEBHOOK_ALLOW_PRIVATE", on[i], &cfg);
    assert_true(cfg.webhook_allow_private);
    config_free(&cfg);
  }
  for (size_t i = 0; i < 3; i++) {
    expect_good("KOPPEL_WEBHOOK_ALLOW_PRIVATE", off[i], &cfg);
    assert_false(cfg.webhook_allow_private);
    config_free(&cfg);
  }
  expect_bad("KOPPEL_WEBHOOK_ALLOW_PRIVATE", "yes", "0 or 1");
  expect_bad("KOPPEL_WEBHOOK_ALLOW_PRIVATE", "2", "0 or 1");
}

/* KOPPEL_RATE_LIMIT: off (0) by default; KOPPEL_RATE_BURST defaults to twice the rate. */
static void rate_limit(void **state) {
  (void)state;
  struct config cfg;
  ENV("KOPPEL_JWT_SECRET", "0123456789abcdef0123456789abcdef");
  assert_int_equal(load(&cfg), 0);
  assert_int_equal(cfg.rate_limit, 0);
  config_free(&cfg);
  expect_good("KOPPEL_RATE_LIMIT", "50", &cfg);
  assert_int_equal(cfg.rate_limit, 50);
  assert_int_equal(cfg.rate_burst, 100);
  config_free(&cfg);
  expect_good("KOPPEL_RATE_LIMIT", "1000000", &cfg);
  assert_int_equal(cfg.rate_burst, 1000000); /* twice the rate, within the bound */
  config_free(&cfg);
  ENV("KOPPEL_RATE_LIMIT", "5", "KOPPEL_RATE_BURST", "5");
  assert_int_equal(load(&cfg), 0);
  assert_int_equal(cfg.rate_limit, 5);
  assert_int_equal(cfg.rate_burst, 5);
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(defaults),           cmocka_unit_test(empty_values_are_defaults),
    cmocka_unit_test(values_are_taken),   cmocka_unit_test(cursor_secret_derived),
    cmocka_unit_test(listen_parsing),     cmocka_unit_test(jwt_alg_values),
    cmocka_unit_test(short_secret),       cmocka_unit_test(public_key_file),
    cmocka_unit_test(integer_variables), cmocka_unit_test(webhook_allow_private),  cmocka_unit_test(message_quotes_value),
    cmocka_unit_test(rate_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
