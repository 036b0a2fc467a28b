/* Research exports: GET /v1/exports/{dataset} streams a pseudonymised dataset
 * as CSV or NDJSON, GET /v1/exports/{dataset}/dictionary describes its columns.
 *
 * Privacy rules, all applied here and nowhere else:
 * - only participants with research consent; a row of another dataset only
 *   when every participant it concerns consented (a pair: mentor and mentee);
 * - every id is replaced by its pseudonym, HMAC-SHA256 keyed with
 *   KOPPEL_EXPORT_KEY over the id's canonical text (lowercase UUID), written as
 *   64 lowercase hex digits. The key never leaves this process (the hash is
 *   computed here, not in SQL, so it cannot end up in the database's logs).
 *   The same key gives the same pseudonym in every export and every dataset,
 *   so datasets join; another key gives unrelated pseudonyms;
 * - no names, contact data, external refs, free text or links: each dataset's
 *   SELECT names the columns it exports (an allow-list), never p.*;
 * - every date and timestamp is coarsened to its month (YYYY-MM, UTC), and
 *   updated_since is rounded down to the start of its month, so repeated
 *   pulls cannot bisect a record's exact change time.
 *
 * Streaming: the handler checks everything that can fail (role, dataset,
 * Accept, query, programme scope, the query itself and its first batch) while
 * it can still answer with a problem+json, then takes the request's
 * connection, and the stream callback FETCHes 500 rows at a time from a
 * server-side cursor in a read-only transaction. Memory stays constant: one
 * batch of rows and one rendered row. The free callback (end of stream,
 * client gone, or shutdown) rolls back and gives the connection back.
 * An error after the first byte can no longer change the status: the
 * connection is closed without the final chunk, which HTTP clients report as
 * an incomplete (truncated) response. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "service/http.h"
#include "service/log.h"
#include "service/validate.h"

/* ---------------------------------------------------------------- datasets */

enum col_type { T_PSEUDONYM, T_STRING, T_INTEGER, T_NUMBER, T_BOOLEAN, T_MONTH, T_LIST };
static const char *const TYPE_NAMES[] = {"pseudonym", "string", "integer", "number", "boolean", "month", "list"};

enum coarsening { C_NONE, C_PSEUDONYMISED, C_MONTH, C_DERIVED };
static const char *const COARSENING_NAMES[] = {"none", "pseudonymised", "month", "derived"};

struct column {
  const char *name;
  enum col_type type;
  bool nullable;
  const char *description;
};

struct dataset {
  const char *name;
  const char *description;
  const struct column *columns;
  int ncolumns;
  const char *sql;
  const char *const *excluded;    /* source fields deliberately left out */
};

static enum coarsening coarsening_of(const struct column *c) {
  if (c->type == T_PSEUDONYM) return C_PSEUDONYMISED;
  if (c->type == T_MONTH) return C_MONTH;
  if (strcmp(c->name, "reported_by") == 0 || strcmp(c->name, "languages") == 0 ||
      strcmp(c->name, "meetings_held") == 0 || strcmp(c->name, "minutes_total") == 0)
    return C_DERIVED;
  return C_NONE;
}

/* The caller's scope and the filters: $1 all programmes, $2 programme ids,
 * $3 programme_id (or NULL), $4 updated_since (or NULL). */
#define SCOPE(prg)                                                                    \
  "($1::boolean OR " prg " = ANY($2::uuid[])) AND ($3::uuid IS NULL OR " prg " = $3::uuid) "
#define SINCE(col) "AND ($4::timestamptz IS NULL OR " col " >= date_trunc('month', $4::timestamptz)) "
#define MONTH(x) "to_char(" x ", 'YYYY-MM')"
/* Both people of pair x consented to research. */
#define PAIR_CONSENTED(x)                                                                          \
  "JOIN participants pa ON pa.id = " x ".mentor_id AND pa.consent_research "                      \
  "JOIN participants pb ON pb.id = " x ".mentee_id AND pb.consent_research "

static const struct column PARTICIPANT_COLUMNS[] = {
  {"participant_id", T_PSEUDONYM, false, "The participant."},
  {"programme_id", T_PSEUDONYM, false, "The programme they take part in."},
  {"kind", T_STRING, false, "mentor or mentee."},
  {"status", T_STRING, false,
   "applied, screened, waiting, matched, active, completed, withdrawn or rejected, at the time of the export."},
  {"sectors", T_LIST, false, "Up to two NACE Rev. 2 sector codes."},
  {"occupations", T_LIST, false, "Up to two ISCO-08 occupation codes."},
  {"region", T_STRING, true, "The region given at intake, as entered."},
  {"availability", T_LIST, false, "Any of working_hours, evenings, weekends."},
  {"languages", T_LIST, false, "Languages with their CEFR level, each as code:level (e.g. nl:B1)."},
  {"years_experience", T_INTEGER, true, "Years of work experience."},
  {"education_level", T_STRING, true,
   "primary, lower_secondary, upper_secondary, post_secondary, short_tertiary, bachelor, master or doctorate."},
  {"arrival_month", T_MONTH, true, "Month of arrival in the country."},
  {"referred_by_partner_id", T_PSEUDONYM, true, "The partner organisation that referred them."},
  {"employer_partner_id", T_PSEUDONYM, true, "The partner organisation that employs them (mentors)."},
  {"capacity", T_INTEGER, true, "How many mentees a mentor takes on at once."},
  {"applied_month", T_MONTH, false, "Month the participant was registered."},
  {"status_changed_month", T_MONTH, false, "Month of the last status change."},
  {"waiting_since_month", T_MONTH, true, "Month they started waiting for a match, while waiting."},
  {"consent_month", T_MONTH, true, "Month consent was given."},
  {"updated_month", T_MONTH, false, "Month of the last change to the record."}};

static const char SQL_PARTICIPANTS[] =
  "SELECT p.id::text, p.programme_id::text, p.kind, p.status, to_jsonb(p.sectors)::text, "
  "  to_jsonb(p.occupations)::text, p.region, to_jsonb(p.availability)::text, "
  "  (SELECT coalesce(jsonb_agg(concat(l->>'code', ':', l->>'level') ORDER BY o), '[]') "
  "     FROM jsonb_array_elements(p.languages) WITH ORDINALITY AS t(l, o))::text, "
  "  p.years_experience::text, p.education_level, " MONTH("p.arrival_on") ", "
  "  p.referred_by_partner_id::text, p.employer_partner_id::text, p.capacity::text, "
  "  " MONTH("p.created_at") ", " MONTH("p.status_changed_at") ", " MONTH("p.waiting_since") ", "
  "  " MONTH("p.consent_given_at") ", " MONTH("p.updated_at") " "
  "FROM participants p "
  "WHERE p.consent_research AND " SCOPE("p.programme_id") SINCE("p.updated_at")
  "ORDER BY p.seq";

static const char *const PARTICIPANT_EXCLUDED[] = {
  "given_name", "family_name", "email", "phone", "job_target", "motivation", "external_ref",
  "short_profile", "cv_url", "consent.data_processing", "consent.research", NULL};

static const struct column PAIR_COLUMNS[] = {
  {"pair_id", T_PSEUDONYM, false, "The pair."},
  {"programme_id", T_PSEUDONYM, false, "The programme."},
  {"mentor_id", T_PSEUDONYM, false, "The mentor (joins participant_id of the participants dataset)."},
  {"mentee_id", T_PSEUDONYM, false, "The mentee (joins participant_id of the participants dataset)."},
  {"coach_id", T_PSEUDONYM, true, "The coach (a staff member) who follows the pair."},
  {"status", T_STRING, false, "proposed, accepted, active, completed, ended or declined."},
  {"generalist", T_BOOLEAN, false, "A match outside the mentee's sector."},
  {"match_score", T_NUMBER, true, "The matching score when the pair was proposed (0 to 100)."},
  {"agreement_frequency", T_STRING, true, "weekly, every_two_weeks, monthly or as_needed."},
  {"agreement_contact_modes", T_LIST, false, "Any of in_person, phone, video, chat, email."},
  {"agreement_planned_end_month", T_MONTH, true, "Month the pair planned to end."},
  {"proposed_month", T_MONTH, false, "Month the pair was proposed."},
  {"mentor_accepted_month", T_MONTH, true, "Month the mentor accepted."},
  {"mentee_accepted_month", T_MONTH, true, "Month the mentee accepted."},
  {"declined_by", T_STRING, true, "mentor or mentee, when declined."},
  {"started_month", T_MONTH, true, "Month the pair became active."},
  {"closed_month", T_MONTH, true, "Month the pair was closed."},
  {"end_reason", T_STRING, true, "goal_reached, no_click, mentee_stopped, mentor_stopped, moved or other."},
  {"meetings_held", T_INTEGER, false, "Meetings logged for the pair."},
  {"minutes_total", T_INTEGER, false, "Minutes of all meetings logged for the pair."},
  {"last_meeting_month", T_MONTH, true, "Month of the last meeting."},
  {"updated_month", T_MONTH, false, "Month of the last change to the pair."}};

static const char SQL_PAIRS[] =
  "SELECT x.id::text, x.programme_id::text, x.mentor_id::text, x.mentee_id::text, x.coach_id::text, "
  "  x.status, x.generalist::text, x.match_score::text, x.agreement_frequency, "
  "  to_jsonb(x.agreement_contact_modes)::text, " MONTH("x.agreement_planned_end_on") ", "
  "  " MONTH("x.created_at") ", " MONTH("x.mentor_accepted_at") ", " MONTH("x.mentee_accepted_at") ", "
  "  x.declined_by, " MONTH("x.started_on") ", " MONTH("x.closed_on") ", x.end_reason, "
  "  m.n::text, m.minutes::text, " MONTH("m.last") ", " MONTH("x.updated_at") " "
  "FROM pairs x " PAIR_CONSENTED("x")
  "CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(duration_minutes), 0) AS minutes, "
  "  max(held_on) AS last FROM meetings WHERE pair_id = x.id) m "
  "WHERE " SCOPE("x.programme_id") SINCE("x.updated_at")
  "ORDER BY x.seq";

static const char *const PAIR_EXCLUDED[] = {"goals", "decline_reason", "match_reasons", "decisions",
                                            "notes", NULL};

static const struct column MEETING_COLUMNS[] = {
  {"meeting_id", T_PSEUDONYM, false, "The meeting."},
  {"pair_id", T_PSEUDONYM, false, "The pair (joins pair_id of the pairs dataset)."},
  {"programme_id", T_PSEUDONYM, false, "The programme."},
  {"held_month", T_MONTH, false, "Month the meeting was held."},
  {"duration_minutes", T_INTEGER, false, "How long it lasted."},
  {"mode", T_STRING, false, "in_person, phone, video, chat or email."},
  {"place", T_STRING, true, "workplace, library, cafe, online or other."},
  {"topics", T_LIST, false, "Keys of the programme's topic vocabulary."},
  {"initiated_by", T_STRING, true, "mentor, mentee or coach."},
  {"reported_by", T_STRING, false, "Who logged it: mentor, mentee or staff."},
  {"created_month", T_MONTH, false, "Month the meeting was logged."},
  {"updated_month", T_MONTH, false, "Month of the last change to the meeting."}};

static const char SQL_MEETINGS[] =
  "SELECT m.id::text, m.pair_id::text, x.programme_id::text, " MONTH("m.held_on") ", "
  "  m.duration_minutes::text, m.mode, m.place, to_jsonb(m.topics)::text, m.initiated_by, "
  "  CASE m.reported_by WHEN x.mentor_id THEN 'mentor' WHEN x.mentee_id THEN 'mentee' ELSE 'staff' END, "
  "  " MONTH("m.created_at") ", " MONTH("m.updated_at") " "
  "FROM meetings m JOIN pairs x ON x.id = m.pair_id " PAIR_CONSENTED("x")
  "WHERE " SCOPE("x.programme_id") SINCE("m.updated_at")
  "ORDER BY m.seq";

static const char *const MEETING_EXCLUDED[] = {"summary", "next_steps", NULL};

static const struct column RESPONSE_COLUMNS[] = {
  {"response_id", T_PSEUDONYM, false, "The response (one person's answers to one survey)."},
  {"survey_id", T_PSEUDONYM, false, "The survey."},
  {"programme_id", T_PSEUDONYM, false, "The survey's programme."},
  {"participant_id", T_PSEUDONYM, false, "The respondent (joins participant_id of the participants dataset)."},
  {"respondent_kind", T_STRING, false, "mentor or mentee."},
  {"survey_phase", T_STRING, false, "intake, pre, interim, post or follow_up."},
  {"survey_opens_month", T_MONTH, false, "Month the survey opened (tells two surveys of a phase apart)."},
  {"question_key", T_STRING, false, "The question's key in the survey."},
  {"question_type", T_STRING, false,
   "likert5, scale10, single_choice, multi_choice, yes_sometimes_no, number or date (text answers are never "
   "exported)."},
  {"option", T_STRING, true,
   "The answer as an option key: 1 to 5 or not_used (likert5), 1 to 10 (scale10), yes, sometimes or no, the "
   "chosen option (single_choice; multi_choice has one row per chosen option)."},
  {"value", T_NUMBER, true, "The numeric answer (likert5, scale10, number); missing for not_used."},
  {"answer_month", T_MONTH, true, "The answer to a date question, as its month."},
  {"submitted_month", T_MONTH, false, "Month the response was submitted."},
  {"updated_month", T_MONTH, false, "Month the response was last replaced."}};

/* One row per answered question (per chosen option for multi_choice), from
 * the flattening results count from (survey_answer_rows, sql/0005); text
 * answers are left out entirely. */
static const char SQL_RESPONSES[] =
  "SELECT r.id::text, r.survey_id::text, s.programme_id::text, r.respondent_id::text, p.kind, s.phase, "
  "  " MONTH("s.opens_on") ", a.question_key, a.question_type, a.option, a.value::text, a.month, "
  "  " MONTH("r.created_at") ", " MONTH("r.updated_at") " "
  "FROM survey_responses r JOIN surveys s ON s.id = r.survey_id "
  "JOIN participants p ON p.id = r.respondent_id AND p.consent_research "
  "CROSS JOIN LATERAL (SELECT v.question_key, v.question_type, v.option, v.value, "
  "    CASE WHEN v.question_type = 'date' AND r.answers->>v.question_key ~ '^[0-9]{4}-[0-9]{2}' "
  "      THEN left(r.answers->>v.question_key, 7) END AS month "
  "  FROM survey_answer_rows v WHERE v.response_id = r.id AND v.question_type <> 'text' "
  "  ORDER BY v.question_position, v.option) a "
  "WHERE " SCOPE("s.programme_id") SINCE("r.updated_at")
  "ORDER BY r.seq";

static const char *const RESPONSE_EXCLUDED[] = {"answers of text questions", "survey title",
                                                "question texts (read them from /v1/surveys)", NULL};

static const struct column OUTCOME_COLUMNS[] = {
  {"outcome_id", T_PSEUDONYM, false, "The measurement."},
  {"participant_id", T_PSEUDONYM, false, "The participant measured (joins participant_id of the participants dataset)."},
  {"programme_id", T_PSEUDONYM, false, "The participant's programme."},
  {"measured_month", T_MONTH, false, "Month of the measurement."},
  {"months_after_end", T_INTEGER, false, "Whole months from the end of the participant's last pair to the measurement."},
  {"status", T_STRING, false, "job_at_level, job_below_level, training, internship, seeking or other."},
  {"employer_partner_id", T_PSEUDONYM, true, "The partner organisation that hired them, if one did."},
  {"recorded_month", T_MONTH, false, "Month the measurement was recorded."},
  {"updated_month", T_MONTH, false, "Month of the last correction."}};

static const char SQL_OUTCOMES[] =
  "SELECT o.id::text, o.participant_id::text, p.programme_id::text, " MONTH("o.measured_on") ", "
  "  o.months_after_end::text, o.status, o.employer_partner_id::text, " MONTH("o.created_at") ", "
  "  " MONTH("o.updated_at") " "
  "FROM outcomes o JOIN participants p ON p.id = o.participant_id AND p.consent_research "
  "WHERE " SCOPE("p.programme_id") SINCE("o.updated_at")
  "ORDER BY o.seq";

static const char *const OUTCOME_EXCLUDED[] = {NULL};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct dataset DATASETS[] = {
  {"participants", "One row per participant who consented to research.", PARTICIPANT_COLUMNS,
   NCOLS(PARTICIPANT_COLUMNS), SQL_PARTICIPANTS, PARTICIPANT_EXCLUDED},
  {"pairs", "One row per pair whose mentor and mentee both consented to research.", PAIR_COLUMNS,
   NCOLS(PAIR_COLUMNS), SQL_PAIRS, PAIR_EXCLUDED},
  {"meetings", "One row per meeting of a pair whose mentor and mentee both consented to research.",
   MEETING_COLUMNS, NCOLS(MEETING_COLUMNS), SQL_MEETINGS, MEETING_EXCLUDED},
  {"responses",
   "One row per answered question (per chosen option of a multiple-choice question) of a survey response by a "
   "participant who consented to research.",
   RESPONSE_COLUMNS, NCOLS(RESPONSE_COLUMNS), SQL_RESPONSES, RESPONSE_EXCLUDED},
  {"outcomes", "One row per employment outcome measurement of a participant who consented to research.",
   OUTCOME_COLUMNS, NCOLS(OUTCOME_COLUMNS), SQL_OUTCOMES, OUTCOME_EXCLUDED},
  {NULL, NULL, NULL, 0, NULL, NULL}};

/* The dataset named name; sends 404 and returns NULL when there is none. */
static const struct dataset *find_dataset(struct req *r, const char *name) {
  for (const struct dataset *d = DATASETS; d->name; d++)
    if (strcmp(d->name, name) == 0) return d;
  reply_problem(r, 404, "there is no export named '%.100s' (participants, pairs, meetings, responses, outcomes)",
                name);
  return NULL;
}

/* ---------------------------------------------------------------- content negotiation */

enum format { F_NONE = -1, F_CSV, F_NDJSON };

/* How well the media range [r, r+n) matches type/subtype: 3 exact, 2 type/x,
 * 1 * / *, 0 not at all. */
static int range_match(const char *r, size_t n, const char *type, const char *sub) {
  size_t tl = strlen(type), sl = strlen(sub);
  if (n == 3 && strncmp(r, "*/*", 3) == 0) return 1;
  if (n < tl + 2 || strncasecmp(r, type, tl) != 0 || r[tl] != '/') return 0;
  const char *s = r + tl + 1;
  size_t rest = n - tl - 1;
  if (rest == 1 && *s == '*') return 2;
  return rest == sl && strncasecmp(s, sub, sl) == 0 ? 3 : 0;
}

/* The q value (0..1000) of one Accept element's parameters; a malformed q is 0. */
static int q_of(const char *params, size_t n) {
  const char *p = params, *end = params + n;
  while (p < end) {
    while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
    const char *e = memchr(p, ';', (size_t)(end - p));
    if (!e) e = end;
    if (e - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      const char *v = p + 2;
      size_t vl = (size_t)(e - v);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      if (vl == 0 || vl > 5 || (v[0] != '0' && v[0] != '1')) return 0;
      int q = (v[0] - '0') * 1000;
      if (vl > 1) {
        if (v[1] != '.') return 0;
        int scale = 100;
        for (size_t i = 2; i < vl; i++, scale /= 10) {
          if (v[i] < '0' || v[i] > '9') return 0;
          q += (v[i] - '0') * scale;
        }
      }
      return q > 1000 ? 0 : q;
    }
    p = e;
  }
  return 1000;
}

/* Picks CSV or NDJSON from an Accept header (RFC 9110 12.5.1): for each
 * format the most specific matching range gives its q; the higher q wins,
 * CSV on a tie; no Accept means CSV. */
static enum format negotiate(const char *accept) {
  if (!accept || !*accept) return F_CSV;
  static const char *const types[][2] = {{"text", "csv"}, {"application", "x-ndjson"}};
  int best_spec[2] = {0, 0}, q[2] = {0, 0};
  const char *p = accept;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *s = p;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    const char *semi = memchr(s, ';', n);
    size_t rl = semi ? (size_t)(semi - s) : n;
    while (rl && (s[rl - 1] == ' ' || s[rl - 1] == '\t')) rl--;
    for (int f = 0; f < 2; f++) {
      int m = range_match(s, rl, types[f][0], types[f][1]);
      if (m > best_spec[f]) {
        best_spec[f] = m;
        q[f] = semi ? q_of(semi, n - (size_t)(semi - s)) : 1000;
      }
    }
    if (!e) break;
    p = e + 1;
  }
  if (q[F_CSV] == 0 && q[F_NDJSON] == 0) return F_NONE;
  return q[F_NDJSON] > q[F_CSV] ? F_NDJSON : F_CSV;
}

/* ---------------------------------------------------------------- rendering */

struct buf {
  char *p;
  size_t len, cap;
  bool oom;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal; PostgreSQL's text is valid UTF-8, so only quotes,
 * backslashes and control characters need escaping. */
static void put_json_string(struct buf *b, const char *s) {
  put(b, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    put(b, run, (size_t)(s - run));
    char esc[8];
    if (c == '"') memcpy(esc, "\\\"", 3);
    else if (c == '\\') memcpy(esc, "\\\\", 3);
    else if (c == '\n') memcpy(esc, "\\n", 3);
    else if (c == '\r') memcpy(esc, "\\r", 3);
    else if (c == '\t') memcpy(esc, "\\t", 3);
    else snprintf(esc, sizeof esc, "\\u%04x", c);
    puts_(b, esc);
    run = s + 1;
  }
  put(b, run, (size_t)(s - run));
  put(b, "\"", 1);
}

/* A CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF,
 * quotes doubled. A text value a spreadsheet would run as a formula (=, +,
 * -, @, tab, CR first) gets a leading apostrophe (OWASP CSV injection). */
static void put_csv_field(struct buf *b, const char *s, bool text) {
  bool guard = text && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r');
  bool quote = guard || strpbrk(s, ",\"\r\n") != NULL;
  if (!quote) {
    puts_(b, s);
    return;
  }
  put(b, "\"", 1);
  if (guard) put(b, "'", 1);
  for (const char *q; (q = strchr(s, '"')); s = q + 1) {
    put(b, s, (size_t)(q - s) + 1);
    put(b, "\"", 1);
  }
  puts_(b, s);
  put(b, "\"", 1);
}

/* pseudonym = lowercase hex of HMAC-SHA256(key, id); out has 65 bytes. */
static bool pseudonym(const char *key, const char *id, char out[65]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)id, strlen(id), mac, &len) ||
      len != 32)
    return false;
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++) {
    out[2 * i] = hex[mac[i] >> 4];
    out[2 * i + 1] = hex[mac[i] & 15];
  }
  out[64] = 0;
  return true;
}

/* A list column arrives as a JSON array of strings: NDJSON keeps it, CSV
 * joins the elements with ';' (no element of an exported list can hold one:
 * they are codes, enum values and topic keys). */
static void put_list(struct buf *b, const char *json, enum format f) {
  if (f == F_NDJSON) {
    puts_(b, json);
    return;
  }
  json_t *a = json_loads(json, 0, NULL);
  struct buf joined = {0};
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (i) put(&joined, ";", 1);
    const char *s = json_string_value(v);
    if (s) puts_(&joined, s);
  }
  put(&joined, "", 1);
  json_decref(a);
  if (joined.oom) b->oom = true;
  else put_csv_field(b, joined.p, true);
  free(joined.p);
}

static void render_header(struct buf *b, const struct dataset *d) {
  for (int c = 0; c < d->ncolumns; c++) {
    if (c) put(b, ",", 1);
    puts_(b, d->columns[c].name);
  }
  put(b, "\r\n", 2);
}

/* Appends row i of res as one CSV record or one NDJSON line. */
static void render_row(struct buf *b, const struct dataset *d, enum format f, const char *key,
                       const PGresult *res, int i) {
  if (f == F_NDJSON) put(b, "{", 1);
  for (int c = 0; c < d->ncolumns; c++) {
    const struct column *col = &d->columns[c];
    if (f == F_NDJSON) {
      if (c) put(b, ",", 1);
      put_json_string(b, col->name);
      put(b, ":", 1);
    } else if (c) {
      put(b, ",", 1);
    }
    if (PQgetisnull(res, i, c)) {
      if (f == F_NDJSON) puts_(b, "null");
      continue;
    }
    const char *v = PQgetvalue(res, i, c);
    switch (col->type) {
    case T_PSEUDONYM: {
      char h[65];
      if (!pseudonym(key, v, h)) {
        b->oom = true;
        return;
      }
      if (f == F_NDJSON) put_json_string(b, h);
      else puts_(b, h);
      break;
    }
    case T_BOOLEAN:
      puts_(b, v[0] == 't' ? "true" : "false");
      break;
    case T_INTEGER:
    case T_NUMBER:
      puts_(b, v);
      break;
    case T_LIST:
      put_list(b, v, f);
      break;
    case T_STRING:
    case T_MONTH:
      if (f == F_NDJSON) put_json_string(b, v);
      else put_csv_field(b, v, col->type == T_STRING);
      break;
    }
  }
  if (f == F_NDJSON) put(b, "}\n", 2);
  else put(b, "\r\n", 2);
}

/* ---------------------------------------------------------------- streaming */

#define BATCH "500"
static const char SQL_FETCH[] = "FETCH " BATCH " FROM koppel_export";

/* Exports hold a pooled connection for as long as the client reads; at most
 * half the pool serves exports at once, so the API stays answerable. */
static atomic_int active_exports;

struct stream {
  struct db_pool *pool;
  struct db_conn *conn;
  const struct dataset *ds;
  enum format fmt;
  const char *key;   /* borrowed from the app's configuration */
  PGresult *res;     /* the current batch */
  int row;           /* next row of res to render */
  bool done;         /* no more rows: the cursor is exhausted */
  bool failed;       /* a FETCH failed or memory ran out */
  struct buf out;    /* rendered bytes not yet handed to the server */
  size_t sent;       /* of out */
  unsigned long long rows;
  char request_id[65];
};

/* Renders the next row (fetching the next batch when needed) into s->out. */
static void next_row(struct stream *s) {
  if (!s->res || s->row >= PQntuples(s->res)) {
    PQclear(s->res);
    s->res = db_exec_once(s->conn, SQL_FETCH, 0, NULL);
    s->row = 0;
    if (!db_ok(s->res)) {
      log_error(s->request_id, "export %s: FETCH failed: %s", s->ds->name,
                s->res ? PQresultErrorMessage(s->res) : "out of memory");
      s->failed = true;
      return;
    }
    if (PQntuples(s->res) == 0) {
      s->done = true;
      return;
    }
  }
  render_row(&s->out, s->ds, s->fmt, s->key, s->res, s->row++);
  s->rows++;
  if (s->out.oom) s->failed = true;
}

/* MHD asks for up to max bytes. 0 means "nothing now, ask again" (MHD then polls),
 * so it is answered only when there is no room at all. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  struct stream *s = cls;
  if (max == 0) return 0; /* no room this time; ending here would look like a complete export */
  size_t n = 0;
  while (n < max) {
    if (s->sent < s->out.len) {
      size_t k = s->out.len - s->sent;
      if (k > max - n) k = max - n;
      memcpy(buf + n, s->out.p + s->sent, k);
      s->sent += k;
      n += k;
      continue;
    }
    s->out.len = s->sent = 0;
    if (s->done || s->failed) break;
    next_row(s);
  }
  if (n > 0) return (ssize_t)n;
  return s->failed ? U_STREAM_ERROR : U_STREAM_END;
}

static void stream_free(void *cls) {
  struct stream *s = cls;
  bool complete = s->done && !s->failed && s->out.len == s->sent;
  PQclear(s->res);
  db_release(s->pool, s->conn); /* rolls the read-only transaction back, closing the cursor */
  log_info("export %s (request %s): %llu rows, %s", s->ds->name, s->request_id, s->rows,
           complete ? "complete" : "not complete (client gone, error or shutdown)");
  free(s->out.p);
  free(s);
  atomic_fetch_sub(&active_exports, 1);
}

static const char SQL_PROGRAMME_VISIBLE[] =
  "SELECT 1 FROM programmes WHERE id = $1::uuid AND ($2::boolean OR id = ANY($3::uuid[]))";

static void export_rows(struct req *r) {
  static const char *const allowed[] = {"programme_id", "updated_since", NULL};
  const char *prg, *since;
  if (!req_check_query(r, allowed)) return;
  const struct dataset *d = find_dataset(r, r->param[0]);
  if (!d) return;
  enum format fmt = negotiate(req_header(r, "Accept"));
  if (fmt == F_NONE) {
    reply_problem(r, 406, "exports are text/csv or application/x-ndjson; the Accept header allows neither");
    return;
  }
  if (!req_query_uuid(r, "programme_id", &prg) || !req_query_timestamp(r, "updated_since", &since)) return;

  int limit = r->app->cfg.pool_size / 2;
  if (limit < 1) limit = 1;
  if (atomic_fetch_add(&active_exports, 1) >= limit) {
    atomic_fetch_sub(&active_exports, 1);
    reply_problem(r, 503, "%d exports are running already; retry shortly", limit);
    return;
  }
  PGresult *res = NULL;
  struct stream *s = NULL;
  if (!req_begin(r)) goto out;
  /* The transaction idles while the client reads a batch: allow longer than
   * the server's 60 s connection timeout, which ends a stalled client first.
   * A cursor over a large table looks expensive to the planner; JIT
   * compiling it would only delay the first row. */
  res = PQexec(db_pg(r->db), "SET TRANSACTION READ ONLY; SET LOCAL idle_in_transaction_session_timeout = '120s'; "
                             "SET LOCAL jit = off");
  if (!db_ok(res)) {
    reply_db_error(r, res);
    goto out;
  }
  PQclear(res);
  res = NULL;
  if (prg) {
    const char *p[] = {prg, claims_all(r), claims_prg(r)};
    res = req_exec(r, SQL_PROGRAMME_VISIBLE, 3, p);
    if (!res) goto out;
    if (PQntuples(res) == 0) {
      reply_problem(r, 404, "no programme %s is visible to you", prg);
      goto out;
    }
    PQclear(res);
    res = NULL;
  }
  char declare[4096];
  int dl = snprintf(declare, sizeof declare, "DECLARE koppel_export NO SCROLL CURSOR FOR %s", d->sql);
  if (dl < 0 || (size_t)dl >= sizeof declare) {
    reply_problem(r, 500, "the export query is too long");
    goto out;
  }
  const char *p[] = {claims_all(r), claims_prg(r), prg, since};
  res = db_exec_once(r->db, declare, 4, p);
  if (!db_ok(res)) {
    reply_db_error(r, res);
    goto out;
  }
  PQclear(res);
  /* The first batch now, so that a failing query is still a problem+json. */
  res = db_exec_once(r->db, SQL_FETCH, 0, NULL);
  if (!db_ok(res)) {
    reply_db_error(r, res);
    goto out;
  }
  s = calloc(1, sizeof *s);
  if (!s) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  s->pool = r->app->pool;
  s->ds = d;
  s->fmt = fmt;
  s->key = r->app->cfg.export_key;
  s->res = res;
  s->done = PQntuples(res) == 0;
  snprintf(s->request_id, sizeof s->request_id, "%s", r->request_id);
  if (fmt == F_CSV) render_header(&s->out, d);
  if (s->out.oom) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  char disposition[96];
  snprintf(disposition, sizeof disposition, "attachment; filename=\"%s.%s\"", d->name,
           fmt == F_CSV ? "csv" : "ndjson");
  set_header(r, "Content-Type", fmt == F_CSV ? "text/csv; charset=utf-8; header=present" : "application/x-ndjson");
  set_header(r, "Content-Disposition", disposition);
  set_header(r, "Vary", "Accept");
  if (ulfius_set_stream_response(r->resp, 200, stream_read, stream_free, U_STREAM_SIZE_UNKNOWN, 32 * 1024, s) !=
      U_OK) {
    reply_problem(r, 500, "could not start the stream");
    goto out;
  }
  /* From here the stream owns the connection, the batch and the count. */
  s->conn = req_take_db(r);
  r->status = 200;
  return;
out:
  if (s) {
    free(s->out.p);
    free(s);
  }
  PQclear(res);
  atomic_fetch_sub(&active_exports, 1);
}

/* ---------------------------------------------------------------- dictionary */

static void dictionary(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  const struct dataset *d = find_dataset(r, r->param[0]);
  if (!d) return;
  json_t *cols = json_array(), *excl = json_array();
  for (int c = 0; c < d->ncolumns; c++) {
    const struct column *col = &d->columns[c];
    json_array_append_new(cols, json_pack("{s:s, s:s, s:b, s:s, s:s}", "name", col->name, "type",
                                          TYPE_NAMES[col->type], "nullable", col->nullable, "description",
                                          col->description, "coarsening",
                                          COARSENING_NAMES[coarsening_of(col)]));
  }
  for (const char *const *e = d->excluded; *e; e++) json_array_append_new(excl, json_string(*e));
  json_t *body = json_pack(
    "{s:s, s:s, s:[s, s], s:s, s:o, s:o}", "dataset", d->name, "description", d->description, "formats",
    "text/csv", "application/x-ndjson", "pseudonymisation",
    "Every *_id column is the lowercase hex HMAC-SHA256, keyed with the service's export key "
    "(KOPPEL_EXPORT_KEY), of the id's canonical lowercase UUID text: the same id gives the same "
    "pseudonym in every dataset and every export made with the same key.",
    "columns", cols, "excluded", excl);
  reply_json(r, 200, body);
}

#define EXPORTERS (ROLE_BIT(ROLE_COORDINATOR) | ROLE_BIT(ROLE_RESEARCHER))

static const struct route routes[] = {
  {"GET", "/v1/exports/{dataset}", export_rows, 0, EXPORTERS},
  {"GET", "/v1/exports/{dataset}/dictionary", dictionary, 0, EXPORTERS},
  {NULL, NULL, NULL, 0, 0}};

void exports_register(void) { routes_add(routes); }
