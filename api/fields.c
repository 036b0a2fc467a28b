/* The field tables of the request bodies (service/jsonutil.h), one place
 * for every module that takes a JSON body, so the libFuzzer target
 * tests/fuzz/fuzz_body.c checks bodies against the very tables the service
 * uses. Pure data and pure checks: jansson, jsonutil and validate only.
 * Surveys keep theirs in api/survey_check.c. */
#include "api/fields.h"

#include <string.h>

#include "service/validate.h"

#define NOTHING NULL, NULL, NULL, NULL, NULL
#define END_OF_FIELDS {NULL, 0, false, false, 0, 0, NOTHING}

/* A certificate kind: 1 to 64 of a-z, 0-9 and _ (as sql/0013 checks it). */
bool certificate_kind_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return false;
  return true;
}

/* ---------------------------------------------------------------- activities (api/activities.c) */

const char *const activity_kinds[] = {"orientation", "workshop", "exchange", "training", "event", NULL};
const char *const activity_audiences[] = {"mentors", "mentees", "both", NULL};
const struct field activity_fields[] = {
  {"programme_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"kind", FT_ENUM, true, false, 0, 0, activity_kinds, NULL, NULL, NULL, NULL},
  {"title", FT_STRING, true, false, 1, 200, NOTHING},
  {"held_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"place", FT_STRING, false, true, 1, 200, NOTHING},
  {"capacity", FT_INT, true, false, 1, 10000, NOTHING},
  {"audience", FT_ENUM, true, false, 0, 0, activity_audiences, NULL, NULL, NULL, NULL},
  END_OF_FIELDS};
const struct field activity_patch_fields[] = {
  {"kind", FT_ENUM, false, false, 0, 0, activity_kinds, NULL, NULL, NULL, NULL},
  {"title", FT_STRING, false, false, 1, 200, NOTHING},
  {"held_on", FT_DATE, false, false, 0, 0, NOTHING},
  {"place", FT_STRING, false, true, 1, 200, NOTHING},
  {"capacity", FT_INT, false, false, 1, 10000, NOTHING},
  {"audience", FT_ENUM, false, false, 0, 0, activity_audiences, NULL, NULL, NULL, NULL},
  END_OF_FIELDS};
const struct field activity_registration_fields[] = {
  {"participant_id", FT_UUID, true, false, 0, 0, NOTHING},
  END_OF_FIELDS};

/* ---------------------------------------------------------------- certificates (api/eligibility.c) */

const struct field certificate_fields[] = {
  {"kind", FT_CHECK, true, false, 0, 0, NULL, certificate_kind_ok, "a certificate kind of 1 to 64 of a-z, 0-9 and _", NULL, NULL},
  {"issued_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"expires_on", FT_DATE, false, true, 0, 0, NOTHING},
  {"issued_by_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  {NULL, 0, false, false, 0, 0, NOTHING}};

/* ---------------------------------------------------------------- feedback (api/feedback.c) */

const struct field feedback_fields[] = {
  {"rating", FT_INT, true, false, 1, 10, NOTHING},
  {"text", FT_STRING, false, true, 0, 2000, NOTHING},
  {NULL, 0, false, false, 0, 0, NOTHING}};

/* ---------------------------------------------------------------- meetings (api/meetings.c) */

static const char *const MEETING_MODES[] = {"in_person", "phone", "video", "chat", "email", NULL};
static const char *const MEETING_PLACES[] = {"workplace", "library", "cafe", "online", "other", NULL};
static const char *const MEETING_INITIATORS[] = {"mentor", "mentee", "coach", NULL};

/* Whether a string can be a topic key at all; membership of the programme's
 * vocabulary is checked in SQL, naming the key. */
static bool topic_len(const char *s) {
  size_t n = utf8_length(s);
  return n >= 1 && n <= 64;
}

const struct field meeting_fields[] = {
  {"held_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"duration_minutes", FT_INT, true, false, 1, 600, NOTHING},
  {"mode", FT_ENUM, true, false, 0, 0, MEETING_MODES, NULL, NULL, NULL, NULL},
  {"place", FT_ENUM, false, true, 0, 0, MEETING_PLACES, NULL, NULL, NULL, NULL},
  {"topics", FT_STR_ARRAY, false, false, 0, 3, NULL, topic_len, "a topic key of 1 to 64 characters", NULL, NULL},
  {"initiated_by", FT_ENUM, false, true, 0, 0, MEETING_INITIATORS, NULL, NULL, NULL, NULL},
  {"summary", FT_STRING, false, true, 0, 4000, NOTHING},
  {"next_steps", FT_STRING, false, true, 0, 4000, NOTHING},
  END_OF_FIELDS};

/* ---------------------------------------------------------------- outcomes (api/outcomes.c) */

static const char *const OUTCOME_STATUSES[] = {"job_at_level", "job_below_level", "training", "internship", "seeking",
                                       "other", NULL};

const struct field outcome_fields[] = {
  {"measured_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"months_after_end", FT_INT, false, false, 0, 120, NOTHING},
  {"status", FT_ENUM, true, false, 0, 0, OUTCOME_STATUSES, NULL, NULL, NULL, NULL},
  {"employer_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  END_OF_FIELDS};

/* ---------------------------------------------------------------- pairs (api/pairs.c) */

static const char *const FREQUENCIES[] = {"weekly", "every_two_weeks", "monthly", "as_needed", NULL};
static const char *const CONTACT_MODES[] = {"in_person", "phone", "video", "chat", "email", NULL};
static const char *const CLOSE_STATUSES[] = {"completed", "ended", NULL};
static const char *const END_REASONS[] = {"goal_reached", "no_click", "mentee_stopped", "mentor_stopped",
                                          "moved", "other", NULL};
static bool goal_ok(const char *s) {
  size_t n = utf8_length(s);
  return n >= 1 && n <= 500;
}
static const struct field AGREEMENTS[] = {
  {"frequency", FT_ENUM, false, true, 0, 0, FREQUENCIES, NULL, NULL, NULL, NULL},
  {"contact_modes", FT_STR_ARRAY, false, false, 0, 5, CONTACT_MODES, NULL, "in_person, phone, video, chat or email", NULL, NULL},
  {"planned_end_on", FT_DATE, false, true, 0, 0, NOTHING},
  END_OF_FIELDS};
const struct field pair_proposal_fields[] = {
  {"mentor_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"mentee_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"coach_id", FT_UUID, false, true, 0, 0, NOTHING},
  {"agreements", FT_OBJECT, false, false, 0, 0, NULL, NULL, NULL, AGREEMENTS, NULL},
  {"goals", FT_STR_ARRAY, false, false, 0, 10, NULL, goal_ok, "a goal of 1 to 500 characters", NULL, NULL},
  END_OF_FIELDS};
/* What a PATCH may change: the pair's working arrangements, not its people. */
const struct field pair_change_fields[] = {
  {"coach_id", FT_UUID, false, true, 0, 0, NOTHING},
  {"agreements", FT_OBJECT, false, false, 0, 0, NULL, NULL, NULL, AGREEMENTS, NULL},
  {"goals", FT_STR_ARRAY, false, false, 0, 10, NULL, goal_ok, "a goal of 1 to 500 characters", NULL, NULL},
  END_OF_FIELDS};
/* POST /v1/pairs/{id}/decline (the body is optional). */
const struct field pair_decline_fields[] = {
  {"reason", FT_STRING, false, true, 0, 1000, NOTHING},
  END_OF_FIELDS};
/* POST /v1/pairs/{id}/close. */
const struct field pair_close_fields[] = {
  {"status", FT_ENUM, true, false, 0, 0, CLOSE_STATUSES, NULL, NULL, NULL, NULL},
  {"end_reason", FT_ENUM, true, false, 0, 0, END_REASONS, NULL, NULL, NULL, NULL},
  END_OF_FIELDS};
/* POST /v1/pairs/{id}/notes. */
const struct field pair_note_fields[] = {
  {"text", FT_STRING, true, false, 1, 4000, NOTHING},
  END_OF_FIELDS};

/* ---------------------------------------------------------------- participants (api/participants.c) */

const char *const participant_kinds[] = {"mentor", "mentee", NULL};
const char *const participant_statuses[] = {"applied", "screened", "waiting", "matched", "active",
                                       "completed", "withdrawn", "rejected", NULL};
static const char *const AVAILABILITY[] = {"working_hours", "evenings", "weekends", NULL};
static const char *const EDUCATION[] = {"primary", "lower_secondary", "upper_secondary", "post_secondary",
                                        "short_tertiary", "bachelor", "master", "doctorate", NULL};
static bool phone_ok(const char *s) { return v_phone(s); }
static bool url_ok(const char *s) { return v_url(s); }
static const struct field LANGUAGE[] = {
  {"code", FT_CHECK, true, false, 0, 0, NULL, v_iso639_1, "an ISO 639-1 code such as nl or en", NULL, NULL},
  {"level", FT_CHECK, true, false, 0, 0, NULL, v_cefr, "a CEFR level A1, A2, B1, B2, C1 or C2", NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static const struct field CONSENT[] = {
  {"data_processing", FT_BOOL, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"research", FT_BOOL, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"given_at", FT_TIMESTAMP, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static const char *const EMPLOYMENT_STATUSES[] = {"working", "retired", "other", NULL};
/* Screening data (sql/0013). */
static const struct field EMPLOYMENT[] = {
  {"status", FT_ENUM, true, false, 0, 0, EMPLOYMENT_STATUSES, NULL, NULL, NULL, NULL},
  {"retired_on", FT_DATE, false, true, 0, 0, NOTHING},
  {NULL, 0, false, false, 0, 0, NOTHING}};
static const struct field REJECTION[] = {
  {"reason", FT_STRING, true, false, 1, 2000, NOTHING},
  {"referred_to_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  {NULL, 0, false, false, 0, 0, NOTHING}};
/* Every writable field. programme_id and kind are set at creation only. */
const struct field participant_fields[] = {
  {"programme_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"kind", FT_ENUM, true, false, 0, 0, participant_kinds, NULL, NULL, NULL, NULL},
  {"given_name", FT_STRING, true, false, 1, 100, NOTHING},
  {"family_name", FT_STRING, true, false, 1, 100, NOTHING},
  {"email", FT_EMAIL, false, true, 0, 0, NOTHING},
  {"phone", FT_CHECK, false, true, 0, 0, NULL, phone_ok, "a phone number (6 to 32 of digits, spaces, + - ( ) .)", NULL, NULL},
  {"status", FT_ENUM, false, false, 0, 0, participant_statuses, NULL, NULL, NULL, NULL},
  {"sectors", FT_STR_ARRAY, false, false, 0, 2, NULL, v_nace, "a NACE Rev. 2 code (A-U, 85, 85.3 or 85.31)", NULL, NULL},
  {"occupations", FT_STR_ARRAY, false, false, 0, 2, NULL, v_isco, "an ISCO-08 code of 1 to 4 digits", NULL, NULL},
  {"region", FT_STRING, false, true, 1, 100, NOTHING},
  {"availability", FT_STR_ARRAY, false, false, 0, 3, AVAILABILITY, NULL, "working_hours, evenings or weekends", NULL, NULL},
  {"languages", FT_ANY_ARRAY, false, false, 0, 20, NULL, NULL, NULL, LANGUAGE, NULL},
  {"years_experience", FT_INT, false, true, 0, 80, NOTHING},
  {"education_level", FT_ENUM, false, true, 0, 0, EDUCATION, NULL, NULL, NULL, NULL},
  {"job_target", FT_STRING, false, true, 0, 500, NOTHING},
  {"motivation", FT_STRING, false, true, 0, 5000, NOTHING},
  {"arrival_on", FT_DATE, false, true, 0, 0, NOTHING},
  {"referred_by_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  {"employer_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  {"external_ref", FT_STRING, false, true, 1, 100, NOTHING},
  {"capacity", FT_INT, false, true, 0, 100, NOTHING},
  {"short_profile", FT_STRING, false, true, 0, 2000, NOTHING},
  {"cv_url", FT_CHECK, false, true, 0, 0, NULL, url_ok, "an http or https URL", NULL, NULL},
  {"consent", FT_OBJECT, false, false, 0, 0, NULL, NULL, NULL, CONSENT, NULL},
  {"birth_year", FT_INT, false, true, 1900, 2100, NOTHING},
  {"work_permit", FT_BOOL, false, true, 0, 0, NOTHING},
  {"employment", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, EMPLOYMENT, NULL},
  {"rejection", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, REJECTION, NULL},
  /* not stored: the reason to move someone to waiting although an
   * eligibility rule fails (recorded in the audit log) */
  {"override_reason", FT_STRING, false, false, 1, 2000, NOTHING},
  {NULL, 0, false, false, 0, 0, NOTHING}};
/* POST /v1/participants/batch: up to 500 upserts, each checked on its own
 * (participant_check_upsert in api/checks.c). */
const struct field participant_batch_fields[] = {
  {"items", FT_ANY_ARRAY, true, false, 1, 500, NOTHING},
  {NULL, 0, false, false, 0, 0, NOTHING}};

/* ---------------------------------------------------------------- partners (api/partners.c) */

const char *const partner_kinds[] = {"referral", "employer", "funder", "training", "education", "other", NULL};
static const char *const AGREEMENT_KINDS[] = {"formal", "ad_hoc", NULL};
static const struct field PARTNER_CONTACT[] = {
  {"name", FT_STRING, false, true, 1, 200, NULL, NULL, NULL, NULL, NULL},
  {"email", FT_EMAIL, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"phone", FT_CHECK, false, true, 0, 0, NULL, v_phone,
   "a phone number of 6 to 32 characters: digits, an optional leading +, spaces, dashes, dots or parentheses",
   NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static const struct field PARTNER_AGREEMENT[] = {
  {"kind", FT_ENUM, false, true, 0, 0, AGREEMENT_KINDS, NULL, NULL, NULL, NULL},
  {"signed_on", FT_DATE, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
const struct field partner_fields[] = {
  {"name", FT_STRING, true, false, 1, 200, NULL, NULL, NULL, NULL, NULL},
  {"kind", FT_ENUM, true, false, 0, 0, partner_kinds, NULL, NULL, NULL, NULL},
  {"contact", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, PARTNER_CONTACT, NULL},
  {"agreement", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, PARTNER_AGREEMENT, NULL},
  {"active", FT_BOOL, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"notes", FT_STRING, false, true, 0, 10000, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

/* ---------------------------------------------------------------- programmes (api/programmes.c) */

const char *const programme_statuses[] = {"planned", "running", "closed", NULL};
/* Relative weights of the match criteria (sql/0004): each 0..100, not all 0. */
const struct field programme_match_weights[] = {
  {"occupation", FT_INT, false, false, 0, 100, NULL, NULL, NULL, NULL, NULL},
  {"sector", FT_INT, false, false, 0, 100, NULL, NULL, NULL, NULL, NULL},
  {"region", FT_INT, false, false, 0, 100, NULL, NULL, NULL, NULL, NULL},
  {"availability", FT_INT, false, false, 0, 100, NULL, NULL, NULL, NULL, NULL},
  {"language", FT_INT, false, false, 0, 100, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
/* Participant fields a programme may require at intake (sql/0013). */
static const char *const REQUIRED_FIELDS[] = {"job_target", "work_permit", "education_level", "arrival_on",
                                              "languages", "sectors", "occupations", "region", "availability",
                                              "motivation", "cv_url", "years_experience", "birth_year",
                                              "employment", NULL};
/* rules.eligibility (sql/0013): null clears a rule. */
static const struct field MIN_LANGUAGE[] = {
  {"code", FT_CHECK, true, false, 0, 0, NULL, v_iso639_1, "an ISO 639-1 code such as nl or en", NULL, NULL},
  {"level", FT_CHECK, true, false, 0, 0, NULL, v_cefr, "a CEFR level A1, A2, B1, B2, C1 or C2", NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static const struct field MENTEE_RULES[] = {
  {"max_years_since_arrival", FT_INT, false, true, 0, 100, NULL, NULL, NULL, NULL, NULL},
  {"min_language", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, MIN_LANGUAGE, NULL},
  {"required_fields", FT_STR_ARRAY, false, true, 0, 14, REQUIRED_FIELDS, NULL,
   "one of job_target, work_permit, education_level, arrival_on, languages, sectors, occupations, region, "
   "availability, motivation, cv_url, years_experience, birth_year, employment", NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static const struct field MENTOR_RULES[] = {
  {"min_years_experience", FT_INT, false, true, 0, 80, NULL, NULL, NULL, NULL, NULL},
  {"min_age", FT_INT, false, true, 14, 100, NULL, NULL, NULL, NULL, NULL},
  {"working_or_recently_retired", FT_BOOL, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"required_certificates", FT_STR_ARRAY, false, true, 0, 10, NULL, certificate_kind_ok,
   "a certificate kind of 1 to 64 of a-z, 0-9 and _", NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static const struct field ELIGIBILITY[] = {
  {"mentee", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, MENTEE_RULES, NULL},
  {"mentor", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, MENTOR_RULES, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

static const struct field RULES[] = {
  {"min_meetings", FT_INT, false, false, 0, 1000, NULL, NULL, NULL, NULL, NULL},
  {"min_duration_days", FT_INT, false, false, 0, 3650, NULL, NULL, NULL, NULL, NULL},
  {"max_mentees_per_mentor", FT_INT, false, false, 1, 100, NULL, NULL, NULL, NULL, NULL},
  {"waiting_alert_days", FT_INT, false, false, 1, 3650, NULL, NULL, NULL, NULL, NULL},
  {"followup_interval_days", FT_INT, false, false, 1, 3650, NULL, NULL, NULL, NULL, NULL},
  {"small_group_threshold", FT_INT, false, false, 1, 1000, NULL, NULL, NULL, NULL, NULL},
  {"match_weights", FT_OBJECT, false, false, 0, 0, NULL, NULL, NULL, programme_match_weights, NULL},
  {"eligibility", FT_OBJECT, false, true, 0, 0, NULL, NULL, NULL, ELIGIBILITY, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

const struct field programme_fields[] = {
  {"name", FT_STRING, true, false, 1, 200, NULL, NULL, NULL, NULL, NULL},
  {"description", FT_STRING, false, true, 0, 10000, NULL, NULL, NULL, NULL, NULL},
  {"starts_on", FT_DATE, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"ends_on", FT_DATE, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"status", FT_ENUM, false, false, 0, 0, programme_statuses, NULL, NULL, NULL, NULL},
  {"rules", FT_OBJECT, false, false, 0, 0, NULL, NULL, NULL, RULES, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
static bool topic_key(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return false;
  return true;
}
static const struct field TOPIC[] = {
  {"key", FT_CHECK, true, false, 0, 0, NULL, topic_key, "1 to 64 of a-z, 0-9 and _", NULL, NULL},
  {"label", FT_STRING, true, false, 1, 200, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
/* PUT /v1/programmes/{id}/topics: the whole vocabulary. */
const struct field programme_topics_fields[] = {
  {"items", FT_ANY_ARRAY, true, false, 0, 200, NULL, NULL, NULL, TOPIC, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

/* ---------------------------------------------------------------- staff (api/staff.c) */

const char *const staff_roles[] = {"coordinator", "coach", NULL};
/* The id is chosen by the client on POST and never changes: PATCH checks
 * against staff_fields + 1, the same table without it (so "id" there is unknown). */
const struct field staff_fields[] = {
  {"id", FT_UUID, true, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"name", FT_STRING, true, false, 1, 200, NULL, NULL, NULL, NULL, NULL},
  {"email", FT_EMAIL, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"role", FT_ENUM, true, false, 0, 0, staff_roles, NULL, NULL, NULL, NULL},
  {"programmes", FT_STR_ARRAY, true, false, 0, 100, NULL, v_uuid, "a programme UUID", NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

/* ---------------------------------------------------------------- trainings (api/trainings.c) */

const char *const training_modes[] = {"online", "in_person", NULL};
const struct field training_fields[] = {
  {"partner_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"title", FT_STRING, true, false, 1, 200, NOTHING},
  {"held_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"mode", FT_ENUM, true, false, 0, 0, training_modes, NULL, NULL, NULL, NULL},
  {"capacity", FT_INT, true, false, 1, 10000, NOTHING},
  {"certificate_kind", FT_CHECK, true, false, 0, 0, NULL, certificate_kind_ok, "1 to 64 characters: a-z, 0-9 and _", NULL, NULL},
  {"validity_months", FT_INT, false, true, 1, 600, NOTHING},
  END_OF_FIELDS};
const struct field training_patch_fields[] = {
  {"title", FT_STRING, false, false, 1, 200, NOTHING},
  {"held_on", FT_DATE, false, false, 0, 0, NOTHING},
  {"mode", FT_ENUM, false, false, 0, 0, training_modes, NULL, NULL, NULL, NULL},
  {"capacity", FT_INT, false, false, 1, 10000, NOTHING},
  {"validity_months", FT_INT, false, true, 1, 600, NOTHING},
  END_OF_FIELDS};
const struct field training_enrolment_fields[] = {
  {"participant_id", FT_UUID, true, false, 0, 0, NOTHING},
  END_OF_FIELDS};

/* ---------------------------------------------------------------- webhooks (api/webhooks.c) */

static const char *const EVENT_TYPES[] = {"participant.status_changed", "pair.status_changed",
                                          "meeting.created", "survey.response_created", NULL};
/* A signing secret: 16 to 200 visible ASCII characters, so every receiver's
 * HMAC library takes it the same way. */
static bool secret_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 16 || n > 200) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7e) return false;
  return true;
}

const struct field webhook_fields[] = {
  {"target_url", FT_CHECK, true, false, 0, 0, NULL, v_url,
   "an http:// or https:// URL of at most 2048 characters", NULL, NULL},
  {"event_types", FT_STR_ARRAY, true, false, 1, 4, EVENT_TYPES, NULL,
   "one of participant.status_changed, pair.status_changed, meeting.created, survey.response_created",
   NULL, NULL},
  {"secret", FT_CHECK, false, false, 0, 0, NULL, secret_ok, "16 to 200 visible ASCII characters", NULL, NULL},
  {"active", FT_BOOL, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"description", FT_STRING, false, true, 0, 500, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
