"""Survey results: pilot 2 of the teaching programme (DOMAIN.md) as a fixture.

25 participants (12 mentors, 13 mentees); the pre-survey answered by 20 (10
mentors and 10 mentees), the post-survey by 12 (7 mentors and 5 mentees), 6
mentors and 5 mentees answered both. Answers are drawn from a seeded random
generator; every expected figure is computed here from what was sent: counts,
n, means, the paired view (only before / only after / both, mean change) and
the researcher's view with small groups suppressed exactly as openapi.yaml
(`Results`) documents it."""
import datetime
import random

import pytest

from conftest import expect, unique

THRESHOLD = 5
TOPICS = ["work_life_balance", "training_tips", "teaching_tips", "transition", "internships",
          "training_programmes", "applying", "education_sectors", "finances", "other"]
POST_TOPICS = TOPICS + ["networking"]  # the post-survey has one option more: paired cells are the union
SECTORS = ["primary", "secondary", "vocational", "higher"]


def day(offset=0):
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)).isoformat()


def questions(post):
    return [
        {"key": "topics", "text": "Topics (at most 3)", "type": "multi_choice",
         "options": POST_TOPICS if post else TOPICS, "max_choices": 3, "required": True},
        {"key": "communication", "text": "Communication skills", "type": "likert5", "allow_not_used": True},
        {"key": "overall", "text": "Overall, from 1 to 10", "type": "scale10"},
        {"key": "sector", "text": "Education sector", "type": "single_choice", "options": SECTORS},
        {"key": "heard", "text": "Did you feel heard?", "type": "yes_sometimes_no"},
        {"key": "hours", "text": "Hours per month", "type": "number"},
        {"key": "started_on", "text": "Start date", "type": "date"},
        {"key": "remarks", "text": "Remarks", "type": "text"},
        # the same key with another type in each survey: never paired
        ({"key": "mismatch", "text": "Mismatch", "type": "yes_sometimes_no"} if post else
         {"key": "mismatch", "text": "Mismatch", "type": "single_choice", "options": ["yes", "no"]}),
    ] + ([] if post else [{"key": "pre_only", "text": "Only asked before", "type": "yes_sometimes_no"}])


OPTIONS = {"likert5": ["1", "2", "3", "4", "5"], "scale10": [str(i) for i in range(1, 11)],
           "yes_sometimes_no": ["yes", "sometimes", "no"]}


def option_list(q):
    if q["type"] in ("single_choice", "multi_choice"):
        return list(q["options"])
    if q["type"] == "likert5":
        return OPTIONS["likert5"] + (["not_used"] if q.get("allow_not_used") else [])
    return OPTIONS.get(q["type"])


def draw(rng, post):
    """One respondent's answers; optional questions are sometimes left out."""
    topics = POST_TOPICS if post else TOPICS
    # a skewed pick so some topics are common and some rare
    weights = [8, 6, 5, 9, 2, 1, 3, 1, 1, 1] + ([2] if post else [])
    chosen = []
    for _ in range(rng.randint(1, 3)):
        t = rng.choices(topics, weights)[0]
        if t not in chosen:
            chosen.append(t)
    a = {"topics": chosen}
    if rng.random() < 0.9:
        a["communication"] = rng.choice([3, 4, 4, 4, 5, 5, 2, "not_used"])
    if rng.random() < 0.85:
        a["overall"] = rng.choice([6, 7, 7, 8, 8, 8, 9, 10])
    if rng.random() < 0.8:
        a["sector"] = rng.choice(["primary", "secondary", "secondary", "vocational"])
    a["heard"] = rng.choice(["yes", "yes", "yes", "sometimes", "no"])
    if rng.random() < 0.7:
        a["hours"] = rng.choice([1, 1.5, 2, 3, 4.5])
    if rng.random() < 0.5:
        a["started_on"] = f"2022-0{rng.randint(6, 9)}-1{rng.randint(0, 9)}"
    if rng.random() < 0.6:
        a["remarks"] = rng.choice(["Very helpful.", "My mentor knew the sector well.", "Too few meetings."])
    a["mismatch"] = rng.choice(["yes", "no"])
    if not post:
        a["pre_only"] = "yes"
    return a


@pytest.fixture(scope="module")
def pilot(make, coord, client, tokens):
    prog = make.programme(name=unique("Van bank naar klas — pilot 2"), rules={"small_group_threshold": THRESHOLD})
    pid = prog["id"]
    mentors = [make.participant(pid, kind="mentor", status="waiting")["id"] for _ in range(12)]
    mentees = [make.participant(pid, kind="mentee", status="waiting")["id"] for _ in range(13)]
    pre = expect(coord.post("/v1/surveys", {
        "programme_id": pid, "title": "Pre-measurement", "phase": "pre", "audience": "both",
        "opens_on": day(-60), "closes_on": day(30), "questions": questions(False)}), 201)
    post = expect(coord.post("/v1/surveys", {
        "programme_id": pid, "title": "Post-measurement", "phase": "post", "audience": "both",
        "opens_on": day(-10), "closes_on": day(30), "questions": questions(True)}), 201)
    pre_people = mentors[:10] + mentees[:10]
    post_people = mentors[:6] + [mentors[10]] + mentees[:5]
    assert len(pre_people) == 20 and len(post_people) == 12 and len(set(pre_people) & set(post_people)) == 11
    rng = random.Random(2022)
    sent = {"pre": {}, "post": {}}
    for name, survey, people in (("pre", pre, pre_people), ("post", post, post_people)):
        for person in people:
            role = "mentor" if person in mentors else "mentee"
            c = client(tokens(role, sub=person, prg=[pid]))
            a = draw(rng, name == "post")
            expect(c.post(f"/v1/surveys/{survey['id']}/responses", {"answers": a}), 201)
            sent[name][person] = a
    return {"programme": pid, "pre": pre, "post": post, "sent": sent,
            "coordinator": client(tokens("coordinator", prg=[pid])),
            "coach": client(tokens("coach", prg=[pid])),
            "researcher": client(tokens("researcher", prg=[pid]))}


# --------------------------------------------------------------------------- the expected figures

def cells(rows, opts):
    """{option: how many of rows chose it}; rows are answers (a value or a list)."""
    out = {o: 0 for o in opts}
    for v in rows:
        for x in (v if isinstance(v, list) else [v]):
            out[str(x)] += 1
    return out


def numeric(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def expected_results(survey, sent, invited, other=None, other_sent=None, survey_first=True):
    """Unsuppressed figures of survey from the answers sent, with the paired view against other."""
    qs = survey["questions"]
    out = {"survey_id": survey["id"], "invited": invited, "responded": len(sent),
           "response_rate": round(len(sent) / invited, 4) if invited else None, "questions": []}
    for q in qs:
        k, t = q["key"], q["type"]
        answered = [a[k] for a in sent.values() if k in a]
        opts = option_list(q)
        nums = [numeric(v) for v in answered if numeric(v) is not None]
        e = {"key": k, "type": t, "n": len(answered),
             "counts": cells(answered, opts) if opts is not None else None,
             "mean": (sum(nums) / len(nums) if nums else None) if t in ("likert5", "scale10", "number") else None,
             "suppressed": False, "_mean_n": len(nums)}
        if other is not None:
            oq = next((x for x in other["questions"] if x["key"] == k and x["type"] == t), None)
            if oq is None:
                e["paired"] = None
            else:
                before, after = (sent, other_sent) if survey_first else (other_sent, sent)
                people = [p for p in before if p in after and k in before[p] and k in after[p]]
                popts = None
                if opts is not None:
                    popts = opts + [o for o in option_list(oq) if o not in opts]

                def chosen(a):
                    v = a[k]
                    return {str(x) for x in (v if isinstance(v, list) else [v])}
                pd = {"n": len(people), "only_before": None, "only_after": None, "both": None, "mean_change": None}
                if popts is not None:
                    pd["only_before"] = {o: sum(1 for p in people if o in chosen(before[p]) and
                                                o not in chosen(after[p])) for o in popts}
                    pd["only_after"] = {o: sum(1 for p in people if o not in chosen(before[p]) and
                                               o in chosen(after[p])) for o in popts}
                    pd["both"] = {o: sum(1 for p in people if o in chosen(before[p]) and o in chosen(after[p]))
                                  for o in popts}
                diffs = [numeric(after[p][k]) - numeric(before[p][k]) for p in people
                         if numeric(after[p][k]) is not None and numeric(before[p][k]) is not None]
                if t in ("likert5", "scale10", "number") and diffs:
                    pd["mean_change"] = sum(diffs) / len(diffs)
                pd["_change_n"] = len(diffs)
                e["paired"] = pd
        out["questions"].append(e)
    return out


def suppress(doc, t):
    """The researcher's view, following openapi.yaml's `Results` rule by rule."""
    for q in doc["questions"]:
        hidden = False
        n, counts = q["n"], q["counts"]
        if n < t:                                                           # rule 1
            q["n"] = None
            if counts:
                for k in counts:
                    counts[k] = None
            hidden = True
        elif counts and any(v < t for v in counts.values()):              # rule 2
            for k, v in counts.items():
                if v < t:
                    counts[k] = None
            hidden = True
            if q["type"] != "multi_choice":                                # rule 3
                while True:
                    shown = {k: v for k, v in counts.items() if v is not None}
                    if n - sum(shown.values()) >= t or not shown:
                        break
                    smallest = min(shown, key=lambda k: (shown[k], list(counts).index(k)))
                    counts[smallest] = None
        if q["mean"] is not None and (n < t or q["_mean_n"] < t):          # rule 4
            q["mean"] = None
            hidden = True
        pd = q.get("paired")
        if pd:                                                              # rule 5
            pn = pd["n"]
            for name in ("only_before", "only_after", "both"):
                c = pd[name]
                if c is None:
                    continue
                for k, v in c.items():
                    if pn < t or v < t:
                        c[k] = None
                        if pn >= t:
                            hidden = True
            if pd["mean_change"] is not None and (pn < t or pd["_change_n"] < t):
                pd["mean_change"] = None
                hidden = True
            if pn < t:
                pd["n"] = None
                hidden = True
        q["suppressed"] = hidden
    return doc


def strip(doc, paired):
    for q in doc["questions"]:
        q.pop("_mean_n", None)
        if not paired:
            q.pop("paired", None)
        elif q.get("paired"):
            q["paired"].pop("_change_n", None)
    return doc


def same(got, want, where="$"):
    """Equal, with floats compared to 4 decimals (the service rounds there)."""
    if isinstance(want, float) or isinstance(got, float):
        assert got is not None and want is not None and abs(got - want) <= 0.00006, f"{where}: {got} != {want}"
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for k in want:
            same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got} != {want}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def results(c, survey, **params):
    return expect(c.get(f"/v1/surveys/{survey['id']}/results", params=params), 200)


# --------------------------------------------------------------------------- pilot 2

def test_response_rates(pilot):
    c = pilot["coordinator"]
    pre, post = results(c, pilot["pre"]), results(c, pilot["post"])
    assert (pre["invited"], pre["responded"], pre["response_rate"]) == (25, 20, 0.8)
    assert (post["invited"], post["responded"], post["response_rate"]) == (25, 12, 0.48)


@pytest.mark.parametrize("role", ["coordinator", "coach"])
def test_staff_see_every_figure(pilot, role):
    for name in ("pre", "post"):
        got = results(pilot[role], pilot[name])
        want = strip(expected_results(pilot[name], pilot["sent"][name], 25), paired=False)
        same(got, want)
        assert all(q["suppressed"] is False and "paired" not in q for q in got["questions"])


def test_topics_counts_from_what_was_sent(pilot):
    got = results(pilot["coordinator"], pilot["pre"])
    topics = next(q for q in got["questions"] if q["key"] == "topics")
    sent = pilot["sent"]["pre"]
    assert topics["n"] == 20
    assert topics["counts"] == {t: sum(1 for a in sent.values() if t in a["topics"]) for t in TOPICS}
    assert topics["mean"] is None


def test_paired_topics(pilot):
    """The paired view of the topics question: of the 11 who answered both, per topic, who chose it
    only before, only after, or in both."""
    got = results(pilot["coordinator"], pilot["post"], compare_with=pilot["pre"]["id"])
    topics = next(q for q in got["questions"] if q["key"] == "topics")
    pre, post = pilot["sent"]["pre"], pilot["sent"]["post"]
    both_people = [p for p in pre if p in post]
    assert len(both_people) == 11
    assert topics["paired"]["n"] == 11
    for t in POST_TOPICS:
        assert topics["paired"]["only_before"][t] == sum(
            1 for p in both_people if t in pre[p]["topics"] and t not in post[p]["topics"]), t
        assert topics["paired"]["only_after"][t] == sum(
            1 for p in both_people if t not in pre[p]["topics"] and t in post[p]["topics"]), t
        assert topics["paired"]["both"][t] == sum(
            1 for p in both_people if t in pre[p]["topics"] and t in post[p]["topics"]), t
    assert list(topics["paired"]["both"]) == POST_TOPICS
    assert topics["paired"]["mean_change"] is None


@pytest.mark.parametrize("path_is", ["post", "pre"])
def test_the_whole_paired_view(pilot, path_is):
    """Either survey in the path: "before" is the one that opened first (the pre-survey)."""
    other = "pre" if path_is == "post" else "post"
    got = results(pilot["coordinator"], pilot[path_is], compare_with=pilot[other]["id"])
    want = strip(expected_results(pilot[path_is], pilot["sent"][path_is], 25, pilot[other], pilot["sent"][other],
                                  survey_first=path_is == "pre"), paired=True)
    same(got, want)
    by_key = {q["key"]: q for q in got["questions"]}
    assert by_key["mismatch"]["paired"] is None                  # same key, another type
    if path_is == "pre":
        assert by_key["pre_only"]["paired"] is None              # no such question after
    for k in ("hours", "started_on", "remarks"):
        pd = by_key[k]["paired"]
        assert pd["only_before"] is None and pd["only_after"] is None and pd["both"] is None
    assert by_key["remarks"]["paired"]["mean_change"] is None


def test_researcher_gets_small_groups_suppressed(pilot):
    for name, other in (("pre", "post"), ("post", "pre")):
        got = results(pilot["researcher"], pilot[name], compare_with=pilot[other]["id"])
        want = strip(suppress(expected_results(pilot[name], pilot["sent"][name], 25, pilot[other],
                                               pilot["sent"][other], survey_first=name == "pre"), THRESHOLD),
                     paired=True)
        same(got, want)
    # a cell the coordinator sees as 1..4 is null for the researcher, and the question says so
    full = results(pilot["coordinator"], pilot["pre"])
    hidden = results(pilot["researcher"], pilot["pre"])
    ft = next(q for q in full["questions"] if q["key"] == "topics")
    ht = next(q for q in hidden["questions"] if q["key"] == "topics")
    small = [t for t, v in ft["counts"].items() if 0 < v < THRESHOLD]
    assert small, ft["counts"]
    for t in small:
        assert ht["counts"][t] is None
    assert ht["suppressed"] is True
    big = [t for t, v in ft["counts"].items() if v >= THRESHOLD]
    assert big and all(ht["counts"][t] == ft["counts"][t] for t in big)  # multi_choice: no complement rule
    # the response rates are never suppressed
    assert (hidden["invited"], hidden["responded"], hidden["response_rate"]) == (25, 20, 0.8)


def test_researcher_never_sees_zero_for_a_hidden_cell(pilot):
    for name in ("pre", "post"):
        full = results(pilot["coordinator"], pilot[name])
        got = results(pilot["researcher"], pilot[name])
        for fq, q in zip(full["questions"], got["questions"]):
            for k, v in (q["counts"] or {}).items():
                assert v is None or v >= THRESHOLD, (q["key"], k, v)
                if fq["counts"][k] < THRESHOLD:
                    assert v is None
            assert q["n"] is None or q["n"] >= THRESHOLD


def test_complement_rule_for_single_answer_questions(pilot):
    """Where counts add up to n, the hidden cells never add up to a small group."""
    got = results(pilot["researcher"], pilot["pre"])
    full = results(pilot["coordinator"], pilot["pre"])
    for q, fq in zip(got["questions"], full["questions"]):
        if q["type"] in ("multi_choice", "number", "date", "text") or q["n"] is None:
            continue
        hidden_total = sum(fq["counts"][k] for k, v in q["counts"].items() if v is None)
        if any(v is None for v in q["counts"].values()):
            assert hidden_total >= THRESHOLD or all(v is None for v in q["counts"].values()), (q, fq)


def test_free_text_and_dates_show_no_content(pilot):
    for role in ("coordinator", "coach", "researcher"):
        got = results(pilot[role], pilot["post"], compare_with=pilot["pre"]["id"])
        for q in got["questions"]:
            if q["type"] in ("text", "date"):
                assert q["counts"] is None and q["mean"] is None
        text = str(got)
        for remark in ("Very helpful", "knew the sector", "Too few"):
            assert remark not in text
        assert "2022-0" not in text


# --------------------------------------------------------------------------- invited, thresholds, edge cases

def test_invited_follows_audience_and_status(make, coord, client, tokens):
    prog = make.programme()["id"]
    mentors = [make.participant(prog, kind="mentor", status="waiting")["id"] for _ in range(3)]
    mentees = [make.participant(prog, kind="mentee", status="waiting")["id"] for _ in range(4)]
    rejected = make.participant(prog, kind="mentee", status="applied")["id"]
    expect(coord.patch(f"/v1/participants/{rejected}", {"status": "rejected", "rejection": {"reason": "Not eligible for this programme"}}), 200)
    surveys = {}
    for aud in ("mentors", "mentees", "both"):
        surveys[aud] = expect(coord.post("/v1/surveys", {
            "programme_id": prog, "title": aud, "phase": "interim", "audience": aud, "opens_on": day(-1),
            "closes_on": day(1), "questions": [{"key": "q", "text": "Q", "type": "scale10"}]}), 201)
    # a mentee answers, then withdraws: still counted as invited, so the rate stays at most 1
    e = client(tokens("mentee", sub=mentees[0], prg=[prog]))
    expect(e.post(f"/v1/surveys/{surveys['both']['id']}/responses", {"answers": {"q": 7}}), 201)
    expect(coord.patch(f"/v1/participants/{mentees[0]}", {"status": "withdrawn"}), 200)
    expect(coord.patch(f"/v1/participants/{mentees[1]}", {"status": "withdrawn"}), 200)
    got = {aud: results(coord, s) for aud, s in surveys.items()}
    assert got["mentors"]["invited"] == 3
    assert got["mentees"]["invited"] == 2              # 4 mentees, 2 withdrew, the rejected one never counts
    assert got["both"]["invited"] == 6                 # 3 + 2 + the one who answered before withdrawing
    assert got["both"]["responded"] == 1 and got["both"]["response_rate"] == round(1 / 6, 4)
    assert len(mentors) == 3


def test_nobody_invited_or_answered(make, coord):
    prog = make.programme()["id"]
    s = expect(coord.post("/v1/surveys", {
        "programme_id": prog, "title": "Empty", "phase": "intake", "audience": "both", "opens_on": day(0),
        "closes_on": day(0), "questions": [{"key": "q", "text": "Q", "type": "likert5"},
                                           {"key": "t", "text": "T", "type": "text"}]}), 201)
    got = results(coord, s)
    assert (got["invited"], got["responded"], got["response_rate"]) == (0, 0, None)
    assert got["questions"] == [
        {"key": "q", "type": "likert5", "n": 0, "counts": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}, "mean": None,
         "suppressed": False},
        {"key": "t", "type": "text", "n": 0, "counts": None, "mean": None, "suppressed": False}]


def test_threshold_is_the_programmes(make, coord, client, tokens):
    """With small_group_threshold 2, a count of 2 shows and a count of 1 does not; with 3, neither."""
    prog = make.programme(rules={"small_group_threshold": 2})["id"]
    people = [make.participant(prog, kind="mentor", status="waiting")["id"] for _ in range(3)]
    s = expect(coord.post("/v1/surveys", {
        "programme_id": prog, "title": "T", "phase": "post", "audience": "mentors", "opens_on": day(-1),
        "closes_on": day(1), "questions": [{"key": "q", "text": "Q", "type": "multi_choice",
                                            "options": ["a", "b", "c"]}]}), 201)
    for p, choice in zip(people, (["a", "b"], ["a"], ["c"])):
        c = client(tokens("mentor", sub=p, prg=[prog]))
        expect(c.post(f"/v1/surveys/{s['id']}/responses", {"answers": {"q": choice}}), 201)
    r = client(tokens("researcher", prg=[prog]))
    q = results(r, s)["questions"][0]
    assert (q["n"], q["counts"], q["suppressed"]) == (3, {"a": 2, "b": None, "c": None}, True)
    expect(coord.patch(f"/v1/programmes/{prog}", {"rules": {"small_group_threshold": 4}}), 200)
    q = results(r, s)["questions"][0]
    assert (q["n"], q["counts"], q["mean"], q["suppressed"]) == (None, {"a": None, "b": None, "c": None}, None, True)


def test_likert_mean_excludes_not_used_and_complement(make, coord, client, tokens):
    """Eight answers 4, one 5, one not_used: the researcher (threshold 5) sees neither 5 nor not_used alone,
    so the smallest shown cell goes too; the mean counts the nine numbers only."""
    prog = make.programme()["id"]
    people = [make.participant(prog, kind="mentee", status="waiting")["id"] for _ in range(10)]
    s = expect(coord.post("/v1/surveys", {
        "programme_id": prog, "title": "L", "phase": "post", "audience": "mentees", "opens_on": day(-1),
        "closes_on": day(1), "questions": [{"key": "q", "text": "Q", "type": "likert5", "allow_not_used": True}]}),
        201)
    for i, p in enumerate(people):
        c = client(tokens("mentee", sub=p, prg=[prog]))
        v = 4 if i < 8 else (5 if i == 8 else "not_used")
        expect(c.post(f"/v1/surveys/{s['id']}/responses", {"answers": {"q": v}}), 201)
    full = results(coord, s)["questions"][0]
    assert full["counts"] == {"1": 0, "2": 0, "3": 0, "4": 8, "5": 1, "not_used": 1}
    assert full["mean"] == round(37 / 9, 4)
    hidden = results(client(tokens("researcher", prg=[prog])), s)["questions"][0]
    # hidden by rule 2: 1, 2, 3, 5, not_used (total 2 < 5); rule 3 then hides 4 as well
    assert hidden["counts"] == {"1": None, "2": None, "3": None, "4": None, "5": None, "not_used": None}
    assert hidden["n"] == 10 and hidden["mean"] == round(37 / 9, 4) and hidden["suppressed"] is True


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-4000-8000-000000000000", "self", "foreign"])
def test_compare_with_must_be_a_survey_of_the_same_programme(pilot, make, coord, bad):
    other = make.programme()["id"]
    foreign = expect(coord.post("/v1/surveys", {
        "programme_id": other, "title": "F", "phase": "post", "audience": "both", "opens_on": day(0),
        "closes_on": day(0), "questions": [{"key": "topics", "text": "T", "type": "text"}]}), 201)
    value = {"self": pilot["post"]["id"], "foreign": foreign["id"]}.get(bad, bad)
    r = coord.get(f"/v1/surveys/{pilot['post']['id']}/results", params={"compare_with": value})
    expect(r, 400)
    assert "compare_with" in r.json()["detail"]


def test_results_roles(pilot, client, tokens, make):
    pid = pilot["programme"]
    path = f"/v1/surveys/{pilot['pre']['id']}/results"
    for role in ("mentor", "mentee"):
        person = next(iter(pilot["sent"]["pre"]))
        expect(client(tokens(role, sub=person, prg=[pid])).get(path), 403)
    expect(client(tokens("integration", partner=make.partner()["id"])).get(path), 403)
    other = make.programme()["id"]
    for role in ("coordinator", "coach", "researcher"):
        expect(client(tokens(role, prg=[other])).get(path), 404)
        expect(client(tokens(role, prg=[pid])).get(path), 200)


def test_results_follow_a_replaced_response(make, coord, client, tokens, psql):
    """PUT .../responses/mine re-counts; the flattened rows keep no free text and no dates."""
    prog = make.programme()["id"]
    person = make.participant(prog, kind="mentor", status="waiting")["id"]
    s = expect(coord.post("/v1/surveys", {
        "programme_id": prog, "title": "R", "phase": "post", "audience": "both", "opens_on": day(-1),
        "closes_on": day(1), "questions": [{"key": "m", "text": "M", "type": "multi_choice", "options": ["a", "b"]},
                                           {"key": "l", "text": "L", "type": "likert5"},
                                           {"key": "t", "text": "T", "type": "text"},
                                           {"key": "d", "text": "D", "type": "date"}]}), 201)
    me = client(tokens("mentor", sub=person, prg=[prog]))
    r = expect(me.post(f"/v1/surveys/{s['id']}/responses",
                       {"answers": {"m": ["a", "b"], "l": 2, "t": "a private remark", "d": "2022-07-01"}}), 201)
    got = {q["key"]: q for q in results(coord, s)["questions"]}
    assert got["m"]["counts"] == {"a": 1, "b": 1} and got["l"]["mean"] == 2 and got["t"]["n"] == 1
    rows = psql("SELECT question_key, option, value::text, ord FROM response_answers WHERE response_id = %s "
                "ORDER BY question_key, ord", r["id"])
    assert rows == [("d", None, None, "1"), ("l", "2", "2", "1"), ("m", "a", None, "1"), ("m", "b", None, "2"),
                    ("t", None, None, "1")]
    expect(me.put(f"/v1/surveys/{s['id']}/responses/mine", {"answers": {"m": ["b"], "l": 5}}), 200)
    got = {q["key"]: q for q in results(coord, s)["questions"]}
    assert got["m"]["counts"] == {"a": 0, "b": 1} and got["l"]["mean"] == 5
    assert got["t"]["n"] == 0 and got["d"]["n"] == 0
