"""Helpers for the pair, meeting, suggestion and follow-up tests (issue 3).

A Cohort is one fresh programme with a registered coach, a coordinator of that
programme, and participants made on demand; each person gets a client whose
token has sub = their participant id, as DESIGN.md pins. Expected values are
always computed by the tests from what they sent; nothing here reads the
service's answers to decide what is right."""
import datetime
import threading
import uuid
from fractions import Fraction
from math import floor

from conftest import expect, unique

OPEN = ("proposed", "accepted", "active")


def today():
    """The service compares dates in UTC (the database runs in UTC)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def day(offset):
    """Today plus offset days, as YYYY-MM-DD."""
    return (today() + datetime.timedelta(days=offset)).isoformat()


def ts(offset_days):
    """A UTC instant offset_days from now (RFC 3339), for backdating timestamps."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset_days)
    return t.isoformat()


def expected_on_track(status, started_on, meetings_held, min_meetings, min_duration_days):
    """on_track as DESIGN.md and openapi.yaml define it, in exact arithmetic:
    active: at least the minimum pro rata for the days since the start (capped at
    the full minimum); completed/ended: the full minimum; otherwise null."""
    if status == "active" and started_on is not None:
        days = (today() - datetime.date.fromisoformat(started_on)).days
        dur = max(min_duration_days, 1)
        needed = floor(Fraction(min_meetings * min(days, dur), dur))
        return meetings_held >= needed
    if status in ("completed", "ended"):
        return meetings_held >= min_meetings
    return None


def expected_progress(status, started_on, meetings, rules):
    """meetings: list of (held_on, duration_minutes) the test logged."""
    last = max((m[0] for m in meetings), default=None)
    return {
        "meetings_held": len(meetings),
        "meetings_required": rules["min_meetings"],
        "minutes_total": sum(m[1] for m in meetings),
        "last_meeting_on": last,
        "days_since_last_meeting": (today() - datetime.date.fromisoformat(last)).days if last else None,
        "on_track": expected_on_track(status, started_on, len(meetings), rules["min_meetings"],
                                      rules["min_duration_days"]),
    }


class Cohort:
    """A programme of its own, its coach (registered in /v1/staff) and people."""

    def __init__(self, make, client, tokens, psql, rules=None, topics=None):
        self.make, self.client, self.tokens, self.psql = make, client, tokens, psql
        body = {"rules": rules} if rules else {}
        self.programme = make.programme(**body)
        self.id = self.programme["id"]
        self.rules = self.programme["rules"]
        self.coach_id = str(uuid.uuid4())
        make.staff([self.id], role="coach", id=self.coach_id)
        self.coach = client(tokens("coach", sub=self.coach_id, prg=[self.id]))
        self.coord_id = str(uuid.uuid4())
        self.coord = client(tokens("coordinator", sub=self.coord_id, prg=[self.id]))
        self.topics = []
        if topics:
            items = [{"key": k, "label": k.replace("_", " ").capitalize()} for k in topics]
            expect(make.coord.put(f"/v1/programmes/{self.id}/topics", {"items": items}), 200)
            self.topics = list(topics)

    # ------------------------------------------------------------------ people

    def person(self, kind, **kw):
        body = {"status": "waiting", "given_name": kind.capitalize(), "email": f"{kind}-{uuid.uuid4().hex[:8]}@example.org",
                "phone": "+32 470 11 22 33"}
        body.update(kw)
        return self.make.participant(self.id, kind=kind, **body)

    def mentor(self, **kw):
        return self.person("mentor", **kw)

    def mentee(self, **kw):
        return self.person("mentee", **kw)

    def as_(self, person):
        """A client with the person's own token (sub = participant id)."""
        return self.client(self.tokens(person["kind"], sub=person["id"], prg=[self.id]))

    def status(self, person_id):
        return self.psql("SELECT status FROM participants WHERE id = %s", person_id)[0][0]

    # ------------------------------------------------------------------ pairs

    def propose(self, mentor, mentee, by=None, **body):
        c = by or self.coach
        return expect(c.post("/v1/pairs", dict({"mentor_id": mentor["id"], "mentee_id": mentee["id"]}, **body)), 201)

    def backdate_pair(self, pair_id, days):
        """The pair was proposed `days` ago (meetings may then be dated from that day)."""
        self.make.backdate("pairs", pair_id, ts(-days), column="created_at")

    def accept(self, pair, person):
        return expect(self.as_(person).post(f"/v1/pairs/{pair['id']}/accept"), 200)

    def meet(self, pair, person, held_on, minutes=60, mode="video", **kw):
        body = dict({"held_on": held_on, "duration_minutes": minutes, "mode": mode}, **kw)
        return expect(self.as_(person).post(f"/v1/pairs/{pair['id']}/meetings", body), 201)

    def confirm(self, pair, person):
        return expect(self.as_(person).post(f"/v1/pairs/{pair['id']}/confirm"), 200)

    def close(self, pair, status, reason, by=None):
        c = by or self.coach
        return expect(c.post(f"/v1/pairs/{pair['id']}/close", {"status": status, "end_reason": reason}), 200)

    def accepted_pair(self, mentor=None, mentee=None, **kw):
        mentor = mentor or self.mentor(**kw.pop("mentor_kw", {}))
        mentee = mentee or self.mentee(**kw.pop("mentee_kw", {}))
        p = self.propose(mentor, mentee)
        self.accept(p, mentor)
        p = self.accept(p, mentee)
        assert p["status"] == "accepted"
        return p, mentor, mentee

    def active_pair(self, mentor=None, mentee=None, held_on=None, backdate=0):
        mentor = mentor or self.mentor()
        mentee = mentee or self.mentee()
        p = self.propose(mentor, mentee)
        if backdate:
            self.backdate_pair(p["id"], backdate)
        self.accept(p, mentor)
        self.accept(p, mentee)
        self.meet(p, mentee, held_on or day(0))
        self.confirm(p, mentor)
        p = self.confirm(p, mentee)
        assert p["status"] == "active"
        return p, mentor, mentee

    def get_pair(self, pair_id):
        return expect(self.coord.get(f"/v1/pairs/{pair_id}"), 200)


def race(calls):
    """Runs the callables at the same moment (threading.Barrier); returns their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def go(i):
        try:
            barrier.wait(timeout=60)
            results[i] = calls[i]()
        except BaseException as e:  # re-raised below
            results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def open_pairs_of_mentor(psql, mentor_id):
    return int(psql("SELECT count(*) FROM pairs WHERE mentor_id = %s AND status IN ('proposed', 'accepted', 'active')",
                    mentor_id)[0][0])


def problem_detail(resp):
    return (resp.json().get("detail") or "").lower()


__all__ = ["OPEN", "Cohort", "day", "expected_on_track", "expected_progress", "open_pairs_of_mentor",
           "problem_detail", "race", "today", "ts", "unique"]
