"""Helpers for the outcome, statistics and partner report tests (issue 4).

A Programme is a fresh programme with its own coach and coordinator; people
and pairs are made through the API (each person acts with their own token,
sub = participant id) and time is made to pass with psql. The expected
figures are always computed here, in Python, from what a test built; the
service's answers are never used to decide what is right."""
import datetime
import json
import math
import uuid
from decimal import ROUND_HALF_UP, Decimal

from conftest import expect, unique

PARTICIPANT_STATUSES = ["applied", "screened", "waiting", "matched", "active", "completed", "withdrawn", "rejected"]
PAIR_STATUSES = ["proposed", "accepted", "active", "completed", "ended", "declined"]
END_REASONS = ["goal_reached", "no_click", "mentee_stopped", "mentor_stopped", "moved", "other"]
OUTCOME_STATUSES = ["job_at_level", "job_below_level", "training", "internship", "seeking", "other"]


def today():
    """The service compares dates in UTC."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def day(offset):
    return (today() + datetime.timedelta(days=offset)).isoformat()


def ts(offset_days):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset_days)).isoformat()


def add_months(d, months):
    """d (a date with day <= 28) plus whole months."""
    assert d.day <= 28
    y, m = divmod(d.month - 1 + months, 12)
    return d.replace(year=d.year + y, month=m + 1)


def months_between(a, b):
    """Whole months from date a to date b, as PostgreSQL's age() counts them."""
    return (b.year - a.year) * 12 + (b.month - a.month) - (1 if b.day < a.day else 0)


def a_closing_day(days_ago):
    """A date about days_ago in the past whose day of the month is at most 28."""
    d = today() - datetime.timedelta(days=days_ago)
    while d.day > 28:
        d -= datetime.timedelta(days=1)
    return d


def rounded(x, places):
    """x rounded half-up as SQL's round(numeric) does, as a float (None stays None)."""
    if x is None:
        return None
    q = Decimal(1).scaleb(-places)
    return float(Decimal(str(x)).quantize(q, rounding=ROUND_HALF_UP))


def percentile_cont(xs, p):
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    xs = sorted(xs)
    if not xs:
        return None
    pos = p * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


def counts(values, keys):
    """{key: how often it occurs in values} for every key."""
    return {k: sum(1 for v in values if v == k) for k in keys}


def shown_map(cells, t, suppress):
    """The suppression rule of openapi.yaml for one group of counts: every count
    below t is hidden; when exactly one is, the smallest other one (by count,
    then name) is hidden too."""
    if not suppress:
        return dict(cells)
    hidden = [k for k, v in cells.items() if v < t]
    if len(hidden) == 1:
        rest = sorted((v, k) for k, v in cells.items() if v >= t)
        if rest:
            hidden.append(rest[0][1])
    return {k: (None if k in hidden else v) for k, v in cells.items()}


def cell(n, t, suppress):
    return None if suppress and n < t else n


class Programme:
    """A programme of its own, its registered coach and a coordinator."""

    def __init__(self, make, client, tokens, psql, rules=None):
        self.make, self.client, self.tokens, self.psql = make, client, tokens, psql
        self.programme = make.programme(**({"rules": rules} if rules else {}))
        self.id = self.programme["id"]
        self.rules = self.programme["rules"]
        self.coach_id = str(uuid.uuid4())
        make.staff([self.id], role="coach", id=self.coach_id)
        self.coach = client(tokens("coach", sub=self.coach_id, prg=[self.id]))
        self.coord = client(tokens("coordinator", sub=str(uuid.uuid4()), prg=[self.id]))
        self.researcher = client(tokens("researcher", prg=[self.id]))

    def person(self, kind, status="waiting", **kw):
        body = {"status": status, "given_name": kind.capitalize(), "email": f"{uuid.uuid4().hex[:10]}@example.org"}
        body.update(kw)
        return self.make.participant(self.id, kind=kind, **body)

    def as_(self, person):
        return self.client(self.tokens(person["kind"], sub=person["id"], prg=[self.id]))

    # ------------------------------------------------------------------ pairs

    def propose(self, mentor, mentee, days_ago=0):
        p = expect(self.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"]}), 201)
        if days_ago:
            self.make.backdate("pairs", p["id"], ts(-days_ago), column="created_at")
        return p

    def accept(self, pair, mentor, mentee):
        expect(self.as_(mentor).post(f"/v1/pairs/{pair['id']}/accept"), 200)
        return expect(self.as_(mentee).post(f"/v1/pairs/{pair['id']}/accept"), 200)

    def meet(self, pair, person, held_on):
        body = {"held_on": held_on, "duration_minutes": 60, "mode": "video"}
        return expect(self.as_(person).post(f"/v1/pairs/{pair['id']}/meetings", body), 201)

    def active_pair(self, mentor, mentee, meetings_on):
        """Proposed the day before the first meeting, accepted, met on each day of
        meetings_on (offsets from today, the first is the start), confirmed."""
        p = self.propose(mentor, mentee, days_ago=-min(meetings_on) + 1)
        self.accept(p, mentor, mentee)
        self.meet(p, mentee, day(meetings_on[0]))
        expect(self.as_(mentor).post(f"/v1/pairs/{p['id']}/confirm"), 200)
        p = expect(self.as_(mentee).post(f"/v1/pairs/{p['id']}/confirm"), 200)
        assert p["status"] == "active" and p["started_on"] == day(meetings_on[0])
        for d in meetings_on[1:]:
            self.meet(p, mentor, day(d))
        return p

    def close(self, pair, status, reason, closed_on=None):
        p = expect(self.coach.post(f"/v1/pairs/{pair['id']}/close", {"status": status, "end_reason": reason}), 200)
        if closed_on:
            self.psql("UPDATE pairs SET closed_on = %s WHERE id = %s", str(closed_on), pair["id"])
        return p

    def closed_pair(self, mentor, mentee, status, reason, closed_on):
        """An active pair (met 500 days ago) closed as status on closed_on."""
        p = self.active_pair(mentor, mentee, [-500])
        return self.close(p, status, reason, closed_on)

    def waited(self, person, days):
        """The person's (only) wait that ended in a match lasted exactly `days`."""
        rows = self.psql("UPDATE participant_status_history SET waiting_since = at - %s::interval "
                         "WHERE participant_id = %s AND from_status = 'waiting' AND to_status = 'matched' "
                         "RETURNING id", f"{days} days", person["id"])
        assert len(rows) == 1, rows

    # ------------------------------------------------------------------ surveys (sql/0005), as rows

    def survey(self, phase, audience, questions, title=None):
        """A survey row straight into the table (the instrument's own API is
        tested with the surveys); questions in their canonical form."""
        canonical = [dict({"text": q["key"], "options": None, "max_choices": None, "allow_not_used": False,
                           "required": False}, **q) for q in questions]
        return self.psql(
            "INSERT INTO surveys (programme_id, title, phase, audience, opens_on, closes_on, questions) "
            "VALUES (%s, %s, %s, %s, current_date - 30, current_date + 30, %s::jsonb) RETURNING id",
            self.id, title or unique("survey"), phase, audience, json.dumps(canonical))[0][0]

    def respond(self, survey_id, person, answers=None):
        self.psql("INSERT INTO survey_responses (survey_id, respondent_id, answers) VALUES (%s, %s, %s::jsonb)",
                  survey_id, person["id"], json.dumps(answers or {}))


def has_surveys(psql):
    return psql("SELECT to_regclass('surveys') IS NOT NULL AND to_regclass('survey_responses') IS NOT NULL")[0][0] == "t"


__all__ = ["END_REASONS", "OUTCOME_STATUSES", "PAIR_STATUSES", "PARTICIPANT_STATUSES", "Programme",
           "a_closing_day", "add_months", "cell", "counts", "day", "has_surveys", "months_between",
           "percentile_cont", "rounded", "shown_map", "today", "ts"]
