/* Bearer JWT verification (libjwt) with a pinned algorithm, and dev token signing. */
#ifndef KOPPEL_AUTH_H
#define KOPPEL_AUTH_H
#include <stdbool.h>
#include <time.h>
#include <jansson.h>
#include "service/config.h"

enum role { ROLE_NONE = 0, ROLE_COORDINATOR, ROLE_COACH, ROLE_MENTOR, ROLE_MENTEE,
            ROLE_RESEARCHER, ROLE_INTEGRATION };

struct claims {
  char sub[37];        /* lower-case UUID */
  enum role role;
  bool prg_all;        /* prg was "*" */
  char *prg_pg;        /* prg as a PostgreSQL array literal "{uuid,...}" (owned) */
  int prg_count;
  char partner[37];    /* "" when absent */
};

const char *role_name(enum role r);
enum role role_parse(const char *s);

/* Verifies token against cfg at time now. On success fills out (free with
 * claims_free) and returns 0; otherwise returns -1 and sets *why (static text). */
int auth_verify(const struct config *cfg, const char *token, time_t now,
                struct claims *out, const char **why);
void claims_free(struct claims *c);

/* auth_verify keeps the tokens it accepted (see auth.c: a fixed-size cache,
 * the time checks redone on every use). For tests: empty it and zero the
 * counters; read how many lookups found an entry and how many did not. */
void auth_cache_clear(void);
void auth_cache_stats(unsigned long *hits, unsigned long *misses);

/* Signs an HS256 development token. prg is "*" or a comma-separated list of
 * UUIDs; partner may be NULL. Returns a malloc'ed string, caller frees. */
char *auth_sign_dev(const char *secret, const char *role, const char *sub, const char *prg,
                    const char *partner, long ttl, time_t now);

#endif
