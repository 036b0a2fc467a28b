/* koppel: serve | migrate | token | seed-demo. Wiring lives here only. */
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "service/auth.h"
#include "service/config.h"
#include "service/db.h"
#include "service/http.h"
#include "service/log.h"
#include "service/meta.h"
#include "service/migrate.h"
#include "service/validate.h"

static const char *env(const char *name) { return getenv(name); }

static int usage(void) {
  fprintf(stderr,
          "usage: koppel serve            serve the API (KOPPEL_LISTEN, default 127.0.0.1:8080)\n"
          "       koppel migrate          apply database migrations\n"
          "       koppel seed-demo        load the demo programme\n"
          "       koppel token --role R --sub UUID [--programme UUID|'*'] [--partner UUID] [--ttl S]\n"
          "                               print a signed HS256 development token\n");
  return 2;
}

static int cmd_token(struct config *cfg, int argc, char **argv) {
  static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
                                       {"sub", required_argument, NULL, 's'},
                                       {"programme", required_argument, NULL, 'p'},
                                       {"partner", required_argument, NULL, 'P'},
                                       {"ttl", required_argument, NULL, 't'},
                                       {NULL, 0, NULL, 0}};
  const char *role = NULL, *sub = NULL, *prg = "", *partner = NULL;
  long long ttl = 3600;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'r': role = optarg; break;
    case 's': sub = optarg; break;
    case 'p': prg = optarg; break;
    case 'P': partner = optarg; break;
    case 't':
      if (!v_strtonum(optarg, 1, 366LL * 86400, &ttl)) {
        fprintf(stderr, "koppel token: --ttl must be 1..31622400 seconds\n");
        return 2;
      }
      break;
    default: return usage();
    }
  }
  if (role_parse(role) == ROLE_NONE || !v_uuid(sub)) {
    fprintf(stderr, "koppel token: --role must be one of coordinator, coach, mentor, mentee, "
                    "researcher, integration and --sub a UUID\n");
    return 2;
  }
  if (partner && !v_uuid(partner)) {
    fprintf(stderr, "koppel token: --partner must be a UUID\n");
    return 2;
  }
  if (!cfg->jwt_secret) {
    fprintf(stderr, "koppel token: signs HS256 only; set KOPPEL_JWT_SECRET\n");
    return 2;
  }
  char *tok = auth_sign_dev(cfg->jwt_secret, role, sub, prg, partner, (long)ttl, time(NULL));
  if (!tok) {
    fprintf(stderr, "koppel token: could not sign\n");
    return 1;
  }
  printf("%s\n", tok);
  free(tok);
  return 0;
}

static int cmd_serve(struct config *cfg) {
  struct app app = {.cfg = *cfg};
  /* glibc gives a thread's free memory back to the kernel once 128 KiB sit
   * at the top of its arena, and serves blocks of 128 KiB and more with
   * mmap: a 50-row page (libpq's result, the body, the response) then paid
   * page faults and TLB shootdowns on every request (perf: madvise,
   * clear_page, flush_tlb). Keeping up to 4 MiB per arena cut the service's
   * CPU per page from 478 to 286 µs (BENCHMARKS.md, item 9). */
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  if (cfg->dev_secret)
    log_info("KOPPEL_JWT_SECRET is not set: using the built-in development secret (never in production)");
  app.pool = db_pool_new(cfg->database_url, cfg->pool_size, cfg->pool_wait_ms, cfg->statement_timeout_ms,
                         cfg->db_prepared);
  if (!app.pool) {
    log_error("", "out of memory creating the connection pool");
    return 1;
  }
  meta_register();
  programmes_register();
  staff_register();
  partners_register();
  participants_register();
  eligibility_register();
  pairs_register();
  meetings_register();
  suggestions_register();
  followups_register();
  exports_register();
  outcomes_register();
  stats_register();
  surveys_register();
  trainings_register();
  activities_register();
  privacy_register();
  feedback_register();
  audit_register();
  int rc = webhooks_start(&app) == 0 ? http_serve(&app) : 2; /* webhook routes and delivery worker */
  webhooks_stop();
  db_pool_free(app.pool);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  setvbuf(stdout, NULL, _IOLBF, 0);
  json_object_seed(0); /* before any thread starts */
  /* SIGINT/SIGTERM are taken by sigwait in http_serve; every thread inherits the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct config cfg;
  char err[512];
  if (config_load(&cfg, env, err, sizeof err) != 0) {
    fprintf(stderr, "koppel: configuration error: %s\n", err);
    config_free(&cfg);
    return 2;
  }
  int rc;
  const char *cmd = argv[1];
  if (strcmp(cmd, "serve") == 0) rc = cmd_serve(&cfg);
  else if (strcmp(cmd, "migrate") == 0) rc = migrate_run(cfg.database_url) ? 1 : 0;
  else if (strcmp(cmd, "seed-demo") == 0) rc = seed_demo(cfg.database_url) ? 1 : 0;
  else if (strcmp(cmd, "token") == 0) rc = cmd_token(&cfg, argc - 1, argv + 1);
  else rc = usage();
  config_free(&cfg);
  return rc;
}
