#!/usr/bin/python3
"""Measuring helpers for tests/bench/run.sh (standard library only).

  measure.py quiet --max S --busy F
      wait until the machine's CPUs are less than F busy (share of all CPUs,
      sampled over 2 s) or S seconds have passed; prints the last share.
  measure.py run --label L --tool wrk|pgbench --koppel PID --postmaster PID
                 --requests-from wrk|pgbench [--pglog PREFIX] --out FILE.tsv -- CMD...
      runs CMD (wrk or pgbench), its output to L.out beside FILE.tsv, and
      appends one row to FILE.tsv: throughput, latency, errors, CPU of the
      service and of every process of our PostgreSQL cluster (from /proc,
      before and after), CPU used by others on the machine, Koppel's memory.
  measure.py table FILE.tsv
      prints the table, with each row's ratio to its pgbench reference.

CPU accounting: utime+stime of the koppel process (all threads); for the
cluster, the postmaster's own and reaped children's time (utime, stime,
cutime, cstime) plus utime+stime of its living children, so a backend that
exits during the run still counts. The load generator's own CPU comes from
wait4() and is reported apart (it is not the service's cost).
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
FIELDS = ["time", "scale", "label", "endpoint", "tool", "conns", "seconds", "requests", "rps", "p50_ms",
          "p99_ms", "errors", "cpu_us_per_req", "koppel_us_per_req", "pg_us_per_req", "loadgen_cpu",
          "others_cpu", "rss_mib", "hwm_mib", "autovacuum", "ref", "commit"]


def proc_stat(pid):
    """(utime, stime, cutime, cstime, ppid) in ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is state (field 3); utime is field 14 -> rest[11]
    return int(rest[11]), int(rest[12]), int(rest[13]), int(rest[14]), int(rest[1])


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(d)
            if st and st[4] == ppid:
                out.append(int(d))
    return out


def settle(postmaster):
    """Waits until the backends of a finished pgbench are gone and reaped: an exited,
    unreaped backend (a zombie) shows no CPU time, and its time reaches the
    postmaster's cutime only once reaped."""
    deadline = time.time() + 3
    time.sleep(0.2)
    while time.time() < deadline:
        zombies = False
        for c in children_of(postmaster):
            try:
                with open(f"/proc/{c}/stat") as f:
                    zombies |= f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                pass
        if not zombies:
            return
        time.sleep(0.05)


def koppel_ticks(pid):
    st = proc_stat(pid)
    return st[0] + st[1] if st else 0


def cluster_ticks(postmaster):
    st = proc_stat(postmaster)
    if not st:
        return 0
    total = sum(st[:4])
    for c in children_of(postmaster):
        cs = proc_stat(c)
        if cs:
            total += cs[0] + cs[1]
    return total


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])  # busy, total (guest time is inside user)


def memory_kib(pid):
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def autovacuum_runs(dburl):
    """autovacuum + autoanalyze runs so far in the database (0 without a URL)."""
    if not dburl:
        return 0
    out = subprocess.run(["psql", dburl, "-XAtc", "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) "
                          "FROM pg_stat_all_tables"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def busy_share(seconds=2.0):
    b0, t0 = machine_ticks()
    time.sleep(seconds)
    b1, t1 = machine_ticks()
    return (b1 - b0) / max(1, t1 - t0)


def cmd_quiet(a):
    deadline = time.time() + a.max
    share = busy_share()
    while share > a.busy and time.time() < deadline:
        share = busy_share()
    print(f"{share:.2f}")


def parse_wrk(text):
    m = re.search(r"^BENCH (.*)$", text, re.M)
    if not m:
        raise SystemExit("wrk printed no BENCH line (see the .out file)")
    kv = dict(x.split("=") for x in m.group(1).split())
    n = int(kv["requests"])
    secs = int(kv["duration_us"]) / 1e6
    return {"requests": n, "rps": n / secs, "p50_ms": int(kv["p50_us"]) / 1000, "p99_ms": int(kv["p99_us"]) / 1000,
            "errors": int(kv["status_errors"]) + int(kv["socket_errors"]), "seconds": secs}


def parse_pgbench(text, prefix):
    tps = re.search(r"^tps = ([0-9.]+)", text, re.M)
    n = re.search(r"number of transactions actually processed: (\d+)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    if not tps or not n:
        raise SystemExit("pgbench printed no tps (see the .out file)")
    lat = []
    for f in glob.glob(prefix + "*"):
        with open(f) as fh:
            for line in fh:
                p = line.split()
                if len(p) >= 3:
                    lat.append(int(p[2]))
        os.unlink(f)
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(len(lat) * q))] / 1000 if lat else float("nan")
    return {"requests": int(n.group(1)), "rps": float(tps.group(1)), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "errors": int(failed.group(1)) if failed else 0, "seconds": int(n.group(1)) / float(tps.group(1))}


def cmd_run(a):
    outdir = os.path.dirname(os.path.abspath(a.out))
    outfile = os.path.join(outdir, a.label + ".out")
    av0 = autovacuum_runs(a.dburl)
    k0, p0, (m0, _) = koppel_ticks(a.koppel) if a.koppel else 0, cluster_ticks(a.postmaster), machine_ticks()
    with open(outfile, "w") as out:
        child = subprocess.Popen(a.cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(child.pid, 0)
    settle(a.postmaster)
    k1, p1, (m1, _) = koppel_ticks(a.koppel) if a.koppel else 0, cluster_ticks(a.postmaster), machine_ticks()
    time.sleep(1)  # autovacuum workers report when they finish; the statistics flush within a second
    av = autovacuum_runs(a.dburl) - av0
    text = open(outfile).read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(text[-2000:])
        raise SystemExit(f"{a.cmd[0]} failed")
    r = parse_wrk(text) if a.tool == "wrk" else parse_pgbench(text, a.pglog)
    n = max(1, r["requests"])
    us = 1e6 / TICK
    kop, pg = (k1 - k0) * us, (p1 - p0) * us
    load = (ru.ru_utime + ru.ru_stime) * 1e6
    wall_cpu = r["seconds"] * os.cpu_count() * 1e6
    others = max(0.0, (m1 - m0) * us - kop - pg - load)
    rss, hwm = memory_kib(a.koppel) if a.koppel else (0, 0)
    row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "scale": a.scale, "label": a.label, "endpoint": a.endpoint,
           "tool": a.tool, "conns": a.conns, "seconds": f"{r['seconds']:.1f}", "requests": r["requests"],
           "rps": f"{r['rps']:.0f}", "p50_ms": f"{r['p50_ms']:.2f}", "p99_ms": f"{r['p99_ms']:.2f}",
           "errors": r["errors"], "cpu_us_per_req": f"{(kop + pg) / n:.0f}", "koppel_us_per_req": f"{kop / n:.0f}",
           "pg_us_per_req": f"{pg / n:.0f}", "loadgen_cpu": f"{load / wall_cpu:.2f}",
           "others_cpu": f"{others / wall_cpu:.2f}", "rss_mib": f"{rss / 1024:.1f}", "hwm_mib": f"{hwm / 1024:.1f}",
           "autovacuum": av,
           "ref": a.ref, "commit": a.commit}
    new = not os.path.exists(a.out)
    with open(a.out, "a") as f:
        if new:
            f.write("\t".join(FIELDS) + "\n")
        f.write("\t".join(str(row[k]) for k in FIELDS) + "\n")
    print(f"  {a.label}: {row['rps']} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
          f"errors {row['errors']}, {row['cpu_us_per_req']} µs CPU/req ({row['koppel_us_per_req']} koppel + "
          f"{row['pg_us_per_req']} database), others {row['others_cpu']}"
          + (f", {av} autovacuum runs" if av else ""), flush=True)


def read_rows(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        return [dict(zip(head, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def cmd_table(a):
    rows = read_rows(a.tsv)
    by_label = {r["label"]: r for r in rows}
    cols = ["endpoint", "req/s", "p50 ms", "p99 ms", "errors", "× pgbench", "CPU µs/req", "(koppel+pg)",
            "RSS MiB", "HWM MiB", "others", "autovac"]
    out = []
    for r in rows:
        ref = by_label.get(r.get("ref", ""))
        ratio = f"{float(r['rps']) / float(ref['rps']):.2f}" if ref and float(ref["rps"]) else "—"
        split = f"{r['koppel_us_per_req']}+{r['pg_us_per_req']}" if r["tool"] == "wrk" else f"0+{r['pg_us_per_req']}"
        mem = (r["rss_mib"], r["hwm_mib"]) if r["tool"] == "wrk" else ("—", "—")
        out.append([f"{r['endpoint']} (c{r['conns']})", r["rps"], r["p50_ms"], r["p99_ms"], r["errors"], ratio,
                    r["cpu_us_per_req"], split, mem[0], mem[1], r["others_cpu"], r.get("autovacuum", "")])
    if a.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---" for _ in cols) + "|")
        for o in out:
            print("| " + " | ".join(str(x) for x in o) + " |")
        return
    w = [max(len(str(x)) for x in col) for col in zip(cols, *out)]
    for line in [cols] + out:
        print("  ".join(str(x).rjust(w[i]) if i else str(x).ljust(w[i]) for i, x in enumerate(line)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    q = sub.add_parser("quiet")
    q.add_argument("--max", type=float, default=120)
    q.add_argument("--busy", type=float, default=0.25)
    q.set_defaults(fn=cmd_quiet)
    r = sub.add_parser("run")
    for opt in ("label", "endpoint", "tool", "out", "conns"):
        r.add_argument("--" + opt, required=True)
    r.add_argument("--koppel", type=int, default=0)
    r.add_argument("--postmaster", type=int, required=True)
    r.add_argument("--pglog", default="")
    r.add_argument("--ref", default="")
    r.add_argument("--scale", default="")
    r.add_argument("--commit", default="")
    r.add_argument("--dburl", default="", help="count autovacuum/autoanalyze runs during the measurement")
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    r.set_defaults(fn=cmd_run)
    t = sub.add_parser("table")
    t.add_argument("tsv")
    t.add_argument("--markdown", action="store_true")
    t.set_defaults(fn=cmd_table)
    a = ap.parse_args()
    if getattr(a, "cmd", None) and a.cmd[:1] == ["--"]:
        a.cmd = a.cmd[1:]
    a.fn(a)


if __name__ == "__main__":
    main()
