/* Pairs: a mentor and a mentee, proposed by staff, accepted or declined by
 * both, confirmed by both after a first meeting, closed by staff.
 *   proposed → accepted (both accept) → active (both confirm after a meeting)
 *            → completed | ended;  proposed → declined (either declines)
 * Every decision is recorded in pair_events (who, role, when, why), and the
 * mentor's and mentee's statuses follow the pair. Capacity holds under
 * concurrency: proposing locks the mentor's row before counting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

static const char *const STATUSES[] = {"proposed", "accepted", "active", "completed", "ended", "declined", NULL};

#define SCOPE(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

/* Columns 0..: json, status, mentor_id, mentee_id, programme_id, mentor_accepted_at,
 * mentee_accepted_at, mentor_confirmed_at, mentee_confirmed_at, coach_id */
enum { C_JSON, C_STATUS, C_MENTOR, C_MENTEE, C_PROGRAMME, C_MENTOR_ACC, C_MENTEE_ACC, C_MENTOR_CONF,
       C_MENTEE_CONF, C_COACH };
static const char SQL_LOAD[] =
  "SELECT pair_json(x)::text, x.status, x.mentor_id::text, x.mentee_id::text, x.programme_id::text, "
  "  x.mentor_accepted_at IS NOT NULL, x.mentee_accepted_at IS NOT NULL, "
  "  x.mentor_confirmed_at IS NOT NULL, x.mentee_confirmed_at IS NOT NULL, x.coach_id::text "
  "FROM pairs x WHERE x.id = $1 AND pair_visible(x, $2, $3, $4, $5)";
static const char SQL_LOAD_FOR_UPDATE[] =
  "SELECT pair_json(x)::text, x.status, x.mentor_id::text, x.mentee_id::text, x.programme_id::text, "
  "  x.mentor_accepted_at IS NOT NULL, x.mentee_accepted_at IS NOT NULL, "
  "  x.mentor_confirmed_at IS NOT NULL, x.mentee_confirmed_at IS NOT NULL, x.coach_id::text "
  "FROM pairs x WHERE x.id = $1 AND pair_visible(x, $2, $3, $4, $5) FOR UPDATE OF x";

static const char SQL_JSON[] = "SELECT pair_json(x)::text FROM pairs x WHERE x.id = $1";

static PGresult *load(struct req *r, const char *sql) {
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no pair %s is visible to you", r->param[0]);
    return NULL;
  }
  const char *p[] = {r->param[0], SCOPE(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "no pair %s is visible to you", r->param[0]);
    return NULL;
  }
  return res;
}

static bool is_true(const PGresult *res, int col) { return strcmp(PQgetvalue(res, 0, col), "t") == 0; }

/* Records a decision in the same transaction. */
static bool record(struct req *r, const char *pair_id, const char *action, const char *reason) {
  static const char sql[] =
    "INSERT INTO pair_events (pair_id, action, actor, actor_role, reason) VALUES ($1, $2, $3, $4, $5)";
  const char *p[] = {pair_id, action, r->claims.sub, role_name(r->claims.role), reason};
  PGresult *res = req_exec(r, sql, 5, p);
  PQclear(res);
  return res != NULL;
}

/* Moves a participant to status when it is in one of the from statuses.
 * For a mentor, only when no other open pair than this one keeps them busy
 * (unless busy_ok). The participants trigger checks the transition itself. */
static bool move_participant(struct req *r, const char *id, const char *pair_id, const char *from,
                             const char *to, bool only_if_no_other_open_pair) {
  static const char sql[] =
    "UPDATE participants SET status = $2 WHERE id = $1 AND status = ANY($3::text[]) "
    "AND (NOT $5::boolean OR NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentor_id = $1 AND x.id <> $4 "
    "  AND x.status IN ('proposed', 'accepted', 'active')))";
  const char *p[] = {id, to, from, pair_id, only_if_no_other_open_pair ? "t" : "f"};
  PGresult *res = req_exec(r, sql, 5, p);
  PQclear(res);
  return res != NULL;
}

/* Reads the pair as it now stands inside the transaction, then commits and
 * replies: a failure before COMMIT rolls back, so a 5xx never hides a write. */
static void commit_and_reply(struct req *r, const char *pair_id, int status) {
  const char *p[] = {pair_id};
  PGresult *res = req_exec(r, SQL_JSON, 1, p);
  if (!res) return;
  if (req_commit(r)) {
    if (status == 201) {
      char loc[80];
      snprintf(loc, sizeof loc, "/v1/pairs/%s", pair_id);
      set_header(r, "Location", loc);
    }
    reply_json_text(r, status, PQgetvalue(res, 0, 0), true);
  }
  PQclear(res);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  PGresult *res = load(r, SQL_LOAD);
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, C_JSON), true);
  PQclear(res);
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "programme_id", "status", "mentor_id",
                                        "mentee_id", "coach_id", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT x.seq, pair_json(x) AS j FROM pairs x "
    "  WHERE pair_visible(x, $1, $2, $3, $4) AND x.seq > $5 "
    "    AND ($6::uuid IS NULL OR x.programme_id = $6) AND ($7::text IS NULL OR x.status = $7) "
    "    AND ($8::uuid IS NULL OR x.mentor_id = $8) AND ($9::uuid IS NULL OR x.mentee_id = $9) "
    "    AND ($10::uuid IS NULL OR x.coach_id = $10) "
    "    AND ($11::timestamptz IS NULL OR x.updated_at >= $11) "
    "  ORDER BY x.seq LIMIT $12::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $12) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $12 FROM page)";
  int limit;
  long long after;
  const char *prg, *status, *mentor, *mentee, *coach, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "pairs", &limit, &after) ||
      !req_query_uuid(r, "programme_id", &prg) || !req_query_enum(r, "status", STATUSES, &status) ||
      !req_query_uuid(r, "mentor_id", &mentor) || !req_query_uuid(r, "mentee_id", &mentee) ||
      !req_query_uuid(r, "coach_id", &coach) || !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE(r), a, prg, status, mentor, mentee, coach, since, l};
  PGresult *res = req_exec(r, sql, 12, p);
  if (!res) return;
  reply_page(r, res, "pairs");
  PQclear(res);
}

/* A coach named on a pair must be a registered coach of its programme. */
static bool coach_ok(struct req *r, const char *coach, const char *programme, json_t *errors) {
  static const char sql[] =
    "SELECT 1 FROM staff s JOIN staff_programmes sp ON sp.staff_id = s.id "
    "WHERE s.id = $1 AND s.role = 'coach' AND sp.programme_id = $2";
  if (!coach) return true;
  const char *p[] = {coach, programme};
  PGresult *res = req_exec(r, sql, 2, p);
  if (!res) return false;
  if (PQntuples(res) == 0) problem_add(errors, "/coach_id", "is not a registered coach of this programme");
  PQclear(res);
  return true;
}

static void propose(struct req *r) {
  /* Lock both people in id order (no deadlock between two proposals), then
   * read them with a fresh snapshot: under READ COMMITTED the second statement
   * sees a pair that a concurrent proposal committed while we waited. */
  static const char sql_lock[] =
    "SELECT 1 FROM participants WHERE id IN ($1, $2) ORDER BY id FOR UPDATE";
  static const char sql_people[] =
    "SELECT p.id::text, p.kind, p.status, p.programme_id::text, "
    "  ($3::boolean OR p.programme_id = ANY($4::uuid[])) AS visible, "
    "  least(coalesce(p.capacity, 1), g.max_mentees_per_mentor) AS capacity, "
    "  (SELECT count(*) FROM pairs x WHERE x.mentor_id = p.id AND x.status IN ('proposed', 'accepted', 'active')) AS open_as_mentor, "
    "  (SELECT x.id::text FROM pairs x WHERE x.mentee_id = p.id AND x.status IN ('proposed', 'accepted', 'active') LIMIT 1) AS open_as_mentee "
    "FROM participants p JOIN programmes g ON g.id = p.programme_id "
    "WHERE p.id IN ($1, $2)";
  static const char sql_certs[] =
    "SELECT nullif(array_to_string(missing_certificates($2, g.elig_required_certificates, current_date), ', '), '') "
    "FROM programmes g WHERE g.id = $1";
  static const char sql_self_coach[] =
    "SELECT s.id::text FROM staff s JOIN staff_programmes sp ON sp.staff_id = s.id "
    "WHERE s.id = $1 AND s.role = 'coach' AND sp.programme_id = $2";
  /* the match is scored as suggestions score it (match_explain, sql/0004):
   * the coach sees the same reasons on the pair as in the suggestion list */
  static const char sql_insert[] =
    "INSERT INTO pairs (programme_id, mentor_id, mentee_id, coach_id, proposed_by, generalist, "
    "  match_score, match_reasons, agreement_frequency, agreement_contact_modes, "
    "  agreement_planned_end_on, goals) "
    "SELECT $1, $2, $3, $4, $5, (e.evaluation->>'generalist')::boolean, "
    "  (e.evaluation->>'score')::numeric, e.evaluation->'reasons', "
    "  j->'agreements'->>'frequency', "
    "  ARRAY(SELECT m FROM jsonb_array_elements_text(coalesce(j->'agreements'->'contact_modes', '[]')) WITH ORDINALITY AS t(m, o) ORDER BY o), "
    "  (j->'agreements'->>'planned_end_on')::date, "
    "  ARRAY(SELECT g FROM jsonb_array_elements_text(coalesce(j->'goals', '[]')) WITH ORDINALITY AS t(g, o) ORDER BY o) "
    "FROM (SELECT $6::jsonb AS j) s, match_explain(ARRAY[$2::uuid], ARRAY[$3::uuid]) e RETURNING id::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *lock = NULL, *people = NULL, *self = NULL, *ins = NULL, *certs = NULL;
  char *text = NULL;
  fields_check(r->body, pair_proposal_fields, "", errors, &unknown);
  if (json_array_size(errors)) goto invalid;
  const char *mentor = json_string_value(json_object_get(r->body, "mentor_id"));
  const char *mentee = json_string_value(json_object_get(r->body, "mentee_id"));
  const char *coach = json_string_value(json_object_get(r->body, "coach_id"));
  if (!req_begin(r)) goto out;
  const char *pp[] = {mentor, mentee, claims_all(r), claims_prg(r)};
  if (!(lock = req_exec(r, sql_lock, 2, pp)) || !(people = req_exec(r, sql_people, 4, pp))) goto out;
  int im = -1, ie = -1;
  for (int i = 0; i < PQntuples(people); i++) {
    if (strcasecmp(PQgetvalue(people, i, 0), mentor) == 0) im = i;
    if (strcasecmp(PQgetvalue(people, i, 0), mentee) == 0) ie = i;
  }
  if (im < 0 || strcmp(PQgetvalue(people, im, 4), "t") != 0)
    problem_add(errors, "/mentor_id", "is not a participant in a programme you work in");
  else if (strcmp(PQgetvalue(people, im, 1), "mentor") != 0)
    problem_add(errors, "/mentor_id", "is a mentee, not a mentor");
  if (ie < 0 || strcmp(PQgetvalue(people, ie, 4), "t") != 0)
    problem_add(errors, "/mentee_id", "is not a participant in a programme you work in");
  else if (strcmp(PQgetvalue(people, ie, 1), "mentee") != 0)
    problem_add(errors, "/mentee_id", "is a mentor, not a mentee");
  if (json_array_size(errors)) goto invalid;
  const char *programme = PQgetvalue(people, im, 3);
  if (strcmp(programme, PQgetvalue(people, ie, 3)) != 0) {
    reply_problem(r, 409, "the mentor and the mentee take part in different programmes");
    goto out;
  }
  if (!PQgetisnull(people, ie, 7)) {
    reply_problem(r, 409, "the mentee already has an open pair (%s)", PQgetvalue(people, ie, 7));
    goto out;
  }
  if (strcmp(PQgetvalue(people, ie, 2), "waiting") != 0) {
    reply_problem(r, 409, "the mentee is %s, not waiting for a match", PQgetvalue(people, ie, 2));
    goto out;
  }
  const char *ms = PQgetvalue(people, im, 2);
  if (strcmp(ms, "waiting") && strcmp(ms, "matched") && strcmp(ms, "active")) {
    reply_problem(r, 409, "the mentor is %s, not available for a match", ms);
    goto out;
  }
  long cap = strtol(PQgetvalue(people, im, 5), NULL, 10), open = strtol(PQgetvalue(people, im, 6), NULL, 10);
  if (open >= cap) {
    reply_problem(r, 409, "the mentor is at capacity: %ld open pair%s of %ld allowed", open,
                  open == 1 ? "" : "s", cap);
    goto out;
  }
  /* the programme's rules.eligibility.mentor.required_certificates: each
   * kind valid on the day of the proposal (sql/0013) */
  const char *cp[] = {programme, mentor};
  if (!(certs = req_exec(r, sql_certs, 2, cp))) goto out;
  if (!PQgetisnull(certs, 0, 0)) {
    reply_problem(r, 409, "the mentor holds no valid certificate of kind %s today, which the programme requires "
                  "of its mentors", PQgetvalue(certs, 0, 0));
    goto out;
  }
  if (!coach && r->claims.role == ROLE_COACH) {
    /* a coach who proposes within their own programme coaches the pair */
    const char *sp[] = {r->claims.sub, programme};
    if (!(self = req_exec(r, sql_self_coach, 2, sp))) goto out;
    if (PQntuples(self)) coach = PQgetvalue(self, 0, 0);
  }
  if (!coach_ok(r, coach, programme, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(r->body, JSON_COMPACT);
  const char *ip[] = {programme, mentor, mentee, coach, r->claims.sub, text};
  if (!text || !(ins = req_exec(r, sql_insert, 6, ip))) goto out;
  const char *pair = PQgetvalue(ins, 0, 0);
  if (!record(r, pair, "proposed", NULL) ||
      !move_participant(r, mentee, pair, "{waiting}", "matched", false) ||
      !move_participant(r, mentor, pair, "{waiting}", "matched", false))
    goto out;
  commit_and_reply(r, pair, 201);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  free(text);
  PQclear(lock);
  PQclear(people);
  PQclear(self);
  PQclear(ins);
  PQclear(certs);
}

/* Which side of the pair the caller is: "mentor" or "mentee" (visibility
 * already guarantees it is theirs). */
static const char *side(struct req *r) { return r->claims.role == ROLE_MENTOR ? "mentor" : "mentee"; }

static void accept_pair(struct req *r) {
  static const char sql[] =
    "UPDATE pairs SET mentor_accepted_at = CASE WHEN $2 = 'mentor' THEN clock_timestamp() ELSE mentor_accepted_at END, "
    "  mentee_accepted_at = CASE WHEN $2 = 'mentee' THEN clock_timestamp() ELSE mentee_accepted_at END "
    "WHERE id = $1 RETURNING mentor_accepted_at IS NOT NULL AND mentee_accepted_at IS NOT NULL";
  static const char sql_both[] = "UPDATE pairs SET status = 'accepted' WHERE id = $1";
  PGresult *cur = NULL, *upd = NULL, *both = NULL;
  if (!req_no_body(r) || !req_begin(r) || !(cur = load(r, SQL_LOAD_FOR_UPDATE))) goto out;
  if (strcmp(PQgetvalue(cur, 0, C_STATUS), "proposed") != 0) {
    reply_problem(r, 409, "only a proposed pair can be accepted; this pair is %s", PQgetvalue(cur, 0, C_STATUS));
    goto out;
  }
  bool mine = is_true(cur, r->claims.role == ROLE_MENTOR ? C_MENTOR_ACC : C_MENTEE_ACC);
  if (mine) {
    reply_problem(r, 409, "you have already accepted this pair; waiting for the other side");
    goto out;
  }
  const char *p[] = {r->param[0], side(r)};
  if (!(upd = req_exec(r, sql, 2, p)) || !record(r, r->param[0], "accepted", NULL)) goto out;
  if (strcmp(PQgetvalue(upd, 0, 0), "t") == 0 && !(both = req_exec(r, sql_both, 1, p))) goto out;
  commit_and_reply(r, r->param[0], 200);
out:
  PQclear(cur);
  PQclear(upd);
  PQclear(both);
}

static void decline(struct req *r) {
  static const char sql[] =
    "UPDATE pairs SET status = 'declined', declined_by = $2, declined_at = clock_timestamp(), "
    "  decline_reason = $3 WHERE id = $1";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *cur = NULL, *upd = NULL;
  if (r->body) fields_check(r->body, pair_decline_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  const char *reason = r->body ? json_string_value(json_object_get(r->body, "reason")) : NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_LOAD_FOR_UPDATE))) goto out;
  if (strcmp(PQgetvalue(cur, 0, C_STATUS), "proposed") != 0) {
    reply_problem(r, 409, "only a proposed pair can be declined; this pair is %s", PQgetvalue(cur, 0, C_STATUS));
    goto out;
  }
  const char *p[] = {r->param[0], side(r), reason};
  if (!(upd = req_exec(r, sql, 3, p)) || !record(r, r->param[0], "declined", reason) ||
      !move_participant(r, PQgetvalue(cur, 0, C_MENTEE), r->param[0], "{matched}", "waiting", false) ||
      !move_participant(r, PQgetvalue(cur, 0, C_MENTOR), r->param[0], "{matched}", "waiting", true))
    goto out;
  commit_and_reply(r, r->param[0], 200);
out:
  PQclear(cur);
  PQclear(upd);
}

static void confirm(struct req *r) {
  static const char sql_meetings[] = "SELECT min(held_on)::text FROM meetings WHERE pair_id = $1";
  static const char sql[] =
    "UPDATE pairs SET mentor_confirmed_at = CASE WHEN $2 = 'mentor' THEN clock_timestamp() ELSE mentor_confirmed_at END, "
    "  mentee_confirmed_at = CASE WHEN $2 = 'mentee' THEN clock_timestamp() ELSE mentee_confirmed_at END "
    "WHERE id = $1 RETURNING mentor_confirmed_at IS NOT NULL AND mentee_confirmed_at IS NOT NULL";
  static const char sql_active[] = "UPDATE pairs SET status = 'active', started_on = $2::date WHERE id = $1";
  PGresult *cur = NULL, *meet = NULL, *upd = NULL, *act = NULL;
  if (!req_no_body(r) || !req_begin(r) || !(cur = load(r, SQL_LOAD_FOR_UPDATE))) goto out;
  if (strcmp(PQgetvalue(cur, 0, C_STATUS), "accepted") != 0) {
    reply_problem(r, 409, "a pair is confirmed once both have accepted and before it is active; this pair is %s",
                  PQgetvalue(cur, 0, C_STATUS));
    goto out;
  }
  if (is_true(cur, r->claims.role == ROLE_MENTOR ? C_MENTOR_CONF : C_MENTEE_CONF)) {
    reply_problem(r, 409, "you have already confirmed this pair; waiting for the other side");
    goto out;
  }
  const char *p1[] = {r->param[0]};
  if (!(meet = req_exec(r, sql_meetings, 1, p1))) goto out;
  if (PQgetisnull(meet, 0, 0)) {
    reply_problem(r, 409, "log the first meeting before confirming that you go on together");
    goto out;
  }
  const char *p[] = {r->param[0], side(r)};
  if (!(upd = req_exec(r, sql, 2, p)) || !record(r, r->param[0], "confirmed", NULL)) goto out;
  if (strcmp(PQgetvalue(upd, 0, 0), "t") == 0) {
    const char *pa[] = {r->param[0], PQgetvalue(meet, 0, 0)};
    if (!(act = req_exec(r, sql_active, 2, pa)) || !record(r, r->param[0], "activated", NULL) ||
        !move_participant(r, PQgetvalue(cur, 0, C_MENTEE), r->param[0], "{matched}", "active", false) ||
        !move_participant(r, PQgetvalue(cur, 0, C_MENTOR), r->param[0], "{matched}", "active", false))
      goto out;
  }
  commit_and_reply(r, r->param[0], 200);
out:
  PQclear(cur);
  PQclear(meet);
  PQclear(upd);
  PQclear(act);
}

static void close_pair(struct req *r) {
  static const char sql[] =
    "UPDATE pairs SET status = $2, end_reason = $3, closed_on = current_date, closed_by = $4 WHERE id = $1";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *cur = NULL, *upd = NULL;
  fields_check(r->body, pair_close_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  const char *to = json_string_value(json_object_get(r->body, "status"));
  const char *why = json_string_value(json_object_get(r->body, "end_reason"));
  if (!req_begin(r) || !(cur = load(r, SQL_LOAD_FOR_UPDATE))) goto out;
  const char *st = PQgetvalue(cur, 0, C_STATUS);
  bool completed = strcmp(to, "completed") == 0;
  if (completed ? strcmp(st, "active") != 0
                : (strcmp(st, "proposed") && strcmp(st, "accepted") && strcmp(st, "active"))) {
    reply_problem(r, 409, "a pair that is %s cannot be closed as %s%s", st, to,
                  completed ? " (only an active pair completes)" : "");
    goto out;
  }
  const char *mentee = PQgetvalue(cur, 0, C_MENTEE), *mentor = PQgetvalue(cur, 0, C_MENTOR);
  const char *p[] = {r->param[0], to, why, r->claims.sub};
  if (!(upd = req_exec(r, sql, 4, p)) || !record(r, r->param[0], "closed", why)) goto out;
  /* the people follow: a completed pair completes both; an ended one sends the
   * mentee back to waiting (or out, if they stopped) and frees the mentor */
  bool ok;
  if (completed) {
    ok = move_participant(r, mentee, r->param[0], "{active}", "completed", false) &&
         move_participant(r, mentor, r->param[0], "{active}", "completed", true);
  } else {
    ok = move_participant(r, mentee, r->param[0], "{matched,active}",
                          strcmp(why, "mentee_stopped") == 0 ? "withdrawn" : "waiting", false) &&
         move_participant(r, mentor, r->param[0], "{matched,active}",
                          strcmp(why, "mentor_stopped") == 0 ? "withdrawn" : "waiting", true);
  }
  if (ok) commit_and_reply(r, r->param[0], 200);
out:
  PQclear(cur);
  PQclear(upd);
}

static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE pairs SET coach_id = (j->>'coach_id')::uuid, agreement_frequency = j->'agreements'->>'frequency', "
    "  agreement_contact_modes = ARRAY(SELECT e FROM jsonb_array_elements_text(coalesce(j->'agreements'->'contact_modes', '[]')) WITH ORDINALITY AS t(e, o) ORDER BY o), "
    "  agreement_planned_end_on = (j->'agreements'->>'planned_end_on')::date, "
    "  goals = ARRAY(SELECT e FROM jsonb_array_elements_text(coalesce(j->'goals', '[]')) WITH ORDINALITY AS t(e, o) ORDER BY o) "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *cur = NULL, *upd = NULL;
  json_t *merged = NULL;
  char *text = NULL;
  fields_check_patch(r->body, pair_change_fields, "", errors, &unknown);
  if (json_array_size(errors)) goto invalid;
  if (json_object_get(r->body, "coach_id") && r->claims.role != ROLE_COORDINATOR && r->claims.role != ROLE_COACH) {
    reply_problem(r, 403, "only staff may change the coach of a pair");
    goto out;
  }
  if (!req_begin(r) || !(cur = load(r, SQL_LOAD_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, C_JSON))) goto out;
  const char *st = PQgetvalue(cur, 0, C_STATUS);
  if (!strcmp(st, "completed") || !strcmp(st, "ended") || !strcmp(st, "declined")) {
    reply_problem(r, 409, "a %s pair cannot be changed", st);
    goto out;
  }
  merged = json_loads(PQgetvalue(cur, 0, C_JSON), 0, NULL);
  if (!merged) {
    reply_problem(r, 500, "could not read the stored pair");
    goto out;
  }
  merge_patch(merged, r->body);
  const char *coach = json_string_value(json_object_get(merged, "coach_id"));
  if (json_object_get(r->body, "coach_id") && !coach_ok(r, coach, PQgetvalue(cur, 0, C_PROGRAMME), errors))
    goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(merged, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (text && (upd = req_exec(r, sql, 2, p))) commit_and_reply(r, r->param[0], 200);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(merged);
  free(text);
  PQclear(cur);
  PQclear(upd);
}

/* ---- coach notes: staff only */

/* Notes are never edited, so updated_since compares their created_at. */
static void notes_list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT n.seq, jsonb_build_object('id', n.id, 'pair_id', n.pair_id, 'author', n.author, "
    "    'text', n.text, 'created_at', n.created_at) AS j FROM pair_notes n "
    "  WHERE n.pair_id = $1 AND n.seq > $2 AND ($3::timestamptz IS NULL OR n.created_at >= $3) "
    "  ORDER BY n.seq LIMIT $4::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $4) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $4 FROM page)";
  int limit;
  long long after;
  const char *since;
  if (!req_check_query(r, allowed) || !req_page(r, "pair_notes", &limit, &after) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  PGresult *cur = load(r, SQL_LOAD);
  if (!cur) return;
  PQclear(cur);
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {r->param[0], a, since, l};
  PGresult *res = req_exec(r, sql, 4, p);
  if (!res) return;
  reply_page(r, res, "pair_notes");
  PQclear(res);
}

static void notes_add(struct req *r) {
  static const char sql[] =
    "INSERT INTO pair_notes (pair_id, author, text) VALUES ($1, $2, $3) "
    "RETURNING jsonb_build_object('id', id, 'pair_id', pair_id, 'author', author, 'text', text, "
    "  'created_at', created_at)::text";
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, pair_note_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  PGresult *cur = NULL, *res = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_LOAD))) goto out;
  const char *p[] = {r->param[0], r->claims.sub, json_string_value(json_object_get(r->body, "text"))};
  if ((res = req_exec(r, sql, 3, p)) && req_commit(r)) reply_json_text(r, 201, PQgetvalue(res, 0, 0), false);
out:
  PQclear(cur);
  PQclear(res);
}

#define PAIR_PEOPLE (ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))

static const struct route routes[] = {
  {"GET", "/v1/pairs", list, 0, STAFF | PAIR_PEOPLE},
  {"POST", "/v1/pairs", propose, R_BODY, STAFF},
  {"GET", "/v1/pairs/{id}", get_one, 0, STAFF | PAIR_PEOPLE},
  {"PATCH", "/v1/pairs/{id}", patch, R_BODY | R_MERGE_PATCH, STAFF | PAIR_PEOPLE},
  {"POST", "/v1/pairs/{id}/accept", accept_pair, R_BODY_OPTIONAL, PAIR_PEOPLE},
  {"POST", "/v1/pairs/{id}/decline", decline, R_BODY_OPTIONAL, PAIR_PEOPLE},
  {"POST", "/v1/pairs/{id}/confirm", confirm, R_BODY_OPTIONAL, PAIR_PEOPLE},
  {"POST", "/v1/pairs/{id}/close", close_pair, R_BODY, STAFF},
  {"GET", "/v1/pairs/{id}/notes", notes_list, 0, STAFF},
  {"POST", "/v1/pairs/{id}/notes", notes_add, R_BODY, STAFF},
  {NULL, NULL, NULL, 0, 0}};

void pairs_register(void) { routes_add(routes); }
