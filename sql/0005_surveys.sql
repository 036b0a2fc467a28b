-- Koppel schema 0005: surveys (instruments per programme), their responses,
-- and the flattening that results (and exports) count from.
--
-- A survey's questions are one jsonb array in canonical form (api/surveys.c
-- validates and writes every member: key, text, type, options, max_choices,
-- allow_not_used, required). Answers are one jsonb object per response, as
-- validated against those questions; response_answers holds them flattened, one
-- row per answered question (per chosen option for multi_choice), so every
-- figure is a GROUP BY on an index. A survey is frozen at its first response:
-- frozen_at is set in that response's transaction and the instrument
-- (questions, phase, audience, opening date) no longer changes.

CREATE TABLE surveys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  programme_id uuid NOT NULL REFERENCES programmes,
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  phase text NOT NULL CHECK (phase IN ('intake', 'pre', 'interim', 'post', 'follow_up')),
  audience text NOT NULL CHECK (audience IN ('mentors', 'mentees', 'both')),
  opens_on date NOT NULL,
  closes_on date NOT NULL,
  questions jsonb NOT NULL CHECK (jsonb_typeof(questions) = 'array' AND jsonb_array_length(questions) >= 1),
  frozen_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (closes_on >= opens_on)
);
CREATE INDEX ON surveys (programme_id, seq);
CREATE INDEX ON surveys (updated_at);

-- One response per participant and survey; answers {question_key: value}.
CREATE TABLE survey_responses (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  survey_id uuid NOT NULL REFERENCES surveys,
  respondent_id uuid NOT NULL REFERENCES participants,
  answers jsonb NOT NULL CHECK (jsonb_typeof(answers) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (survey_id, respondent_id)
);
CREATE INDEX ON survey_responses (survey_id, seq);
CREATE INDEX ON survey_responses (respondent_id);

CREATE TRIGGER surveys_touch BEFORE UPDATE ON surveys FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER survey_responses_touch BEFORE UPDATE ON survey_responses
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER surveys_audit AFTER INSERT OR UPDATE OR DELETE ON surveys
  FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER survey_responses_audit AFTER INSERT OR UPDATE OR DELETE ON survey_responses
  FOR EACH ROW EXECUTE FUNCTION audit_row('id');

-- The order of phases, to tell which of two surveys came first.
CREATE FUNCTION survey_phase_rank(phase text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_position(ARRAY['intake', 'pre', 'interim', 'post', 'follow_up'], phase)
$$;

-- The answer options of question q, in order, as the keys of its counts:
-- likert5 "1".."5" (and "not_used" when allowed), scale10 "1".."10",
-- yes_sometimes_no, and the options of a choice question. NULL for number,
-- date and text questions, which have no options.
CREATE FUNCTION survey_question_options(q jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE q->>'type'
    WHEN 'likert5' THEN ARRAY['1', '2', '3', '4', '5']
      || CASE WHEN coalesce((q->>'allow_not_used')::boolean, false) THEN ARRAY['not_used'] ELSE '{}'::text[] END
    WHEN 'scale10' THEN ARRAY['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']
    WHEN 'yes_sometimes_no' THEN ARRAY['yes', 'sometimes', 'no']
    WHEN 'single_choice' THEN ARRAY(SELECT jsonb_array_elements_text(q->'options'))
    WHEN 'multi_choice' THEN ARRAY(SELECT jsonb_array_elements_text(q->'options'))
    END
$$;

-- Every answer as rows, kept by a trigger in the response's own transaction:
-- one row per answered question, and for multi_choice one per chosen option.
-- option is the answer's option key (likert5 and scale10 answers as "1".."10"
-- or "not_used"), NULL for number, date and text; value is the numeric
-- answer (likert5, scale10, number), NULL otherwise and for "not_used";
-- ord is the option's place in a multi_choice answer and 1 otherwise, so
-- the rows with ord = 1 are one per respondent and answered question. The
-- question's type and position are copied: a survey with answers is frozen.
-- Free text and dates are deliberately not copied here: results only count
-- them (one row each, for n), and their content stays in survey_responses.
CREATE TABLE response_answers (
  response_id uuid NOT NULL REFERENCES survey_responses ON DELETE CASCADE,
  survey_id uuid NOT NULL,
  respondent_id uuid NOT NULL,
  question_key text NOT NULL,
  question_type text NOT NULL,
  question_position integer NOT NULL,
  option text,
  value numeric,
  ord integer NOT NULL
);
CREATE INDEX ON response_answers (survey_id, question_key, option);
CREATE INDEX ON response_answers (response_id);

CREATE FUNCTION response_answers_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM response_answers WHERE response_id = NEW.id;
  END IF;
  INSERT INTO response_answers (response_id, survey_id, respondent_id, question_key, question_type,
                                question_position, option, value, ord)
  SELECT NEW.id, NEW.survey_id, NEW.respondent_id, q.q->>'key', q.q->>'type', q.position, e.option, e.value, e.ord
    FROM surveys s
   CROSS JOIN LATERAL jsonb_array_elements(s.questions) WITH ORDINALITY AS q(q, position)
   CROSS JOIN LATERAL (SELECT NEW.answers->(q.q->>'key') AS a) a
   CROSS JOIN LATERAL (
     SELECT o.x AS option, NULL::numeric AS value, o.i::integer AS ord
       FROM jsonb_array_elements_text(CASE WHEN q.q->>'type' = 'multi_choice' THEN a.a ELSE '[]' END)
            WITH ORDINALITY AS o(x, i)
     UNION ALL
     SELECT CASE WHEN q.q->>'type' IN ('likert5', 'scale10', 'single_choice', 'yes_sometimes_no')
                 THEN a.a #>> '{}' END,
            CASE WHEN q.q->>'type' IN ('likert5', 'scale10', 'number') AND jsonb_typeof(a.a) = 'number'
                 THEN (a.a #>> '{}')::numeric END, 1
      WHERE q.q->>'type' <> 'multi_choice') AS e
   WHERE s.id = NEW.survey_id AND a.a IS NOT NULL;
  RETURN NULL;
END $$;
CREATE TRIGGER survey_responses_answers AFTER INSERT OR UPDATE OF answers ON survey_responses
  FOR EACH ROW EXECUTE FUNCTION response_answers_sync();

-- The flattened answers under the name exports (api/exports.c) and programme
-- statistics (sql/0006) read them by.
CREATE VIEW survey_answer_rows AS
  SELECT response_id, survey_id, respondent_id, question_key, question_type, question_position, option, value
    FROM response_answers;

CREATE FUNCTION survey_json(s surveys) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', s.id, 'programme_id', s.programme_id, 'title', s.title, 'phase', s.phase,
    'audience', s.audience, 'opens_on', s.opens_on, 'closes_on', s.closes_on,
    'questions', s.questions, 'frozen', s.frozen_at IS NOT NULL,
    'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

CREATE FUNCTION survey_response_json(r survey_responses) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', r.id, 'survey_id', r.survey_id, 'respondent_id', r.respondent_id, 'answers', r.answers,
    'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

-- Whether participant p is invited to survey s: of its programme and audience,
-- not withdrawn or rejected; and anyone who answered it (they were invited when
-- they did), so that a response rate never exceeds 1.
CREATE FUNCTION survey_invited(s surveys, p participants) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT p.programme_id = s.programme_id
     AND (s.audience = 'both' OR s.audience = p.kind || 's')
     AND (p.status NOT IN ('withdrawn', 'rejected')
          OR EXISTS (SELECT 1 FROM survey_responses r WHERE r.survey_id = s.id AND r.respondent_id = p.id))
$$;

-- How many are invited to survey sid: survey_invited's rule, counted in one
-- scan of the programme's participants.
CREATE FUNCTION survey_invited_count(sid uuid) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM surveys s JOIN participants p ON p.programme_id = s.programme_id
   WHERE s.id = sid AND (s.audience = 'both' OR s.audience = p.kind || 's')
     AND (p.status NOT IN ('withdrawn', 'rejected')
          OR EXISTS (SELECT 1 FROM survey_responses r WHERE r.survey_id = s.id AND r.respondent_id = p.id))
$$;
