#!/usr/bin/python3
"""Renders openapi.yaml as one self-contained HTML reference (served at /docs).

Run at build time (CMake) with Debian's python3-yaml: no network, no npm.
Usage: gen_docs.py openapi.yaml out.html
"""
import html
import json
import re
import sys

import yaml

METHODS = ("get", "post", "put", "patch", "delete")


def esc(s):
    return html.escape(str(s), quote=True)


def markdown(text):
    """A small Markdown subset: headings, lists, paragraphs, `code`, **bold**."""
    out, para, items = [], [], []

    def inline(s):
        s = esc(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)

    def flush():
        if para:
            out.append("<p>" + inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join("<li>" + inline(i) + "</li>" for i in items) + "</ul>")
            items.clear()

    for line in (text or "").splitlines():
        s = line.strip()
        if not s:
            flush()
        elif s.startswith("#"):
            flush()
            level = min(len(s) - len(s.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{inline(s.lstrip('#').strip())}</h{level}>")
        elif s.startswith(("- ", "* ")):
            if para:
                flush()
            items.append(s[2:])
        elif items and line.startswith("  "):
            items[-1] += " " + s
        else:
            if items:
                flush()
            para.append(s)
    flush()
    return "\n".join(out)


class Doc:
    def __init__(self, spec):
        self.spec = spec

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            ref = node["$ref"]
            node = self.spec
            for part in ref.lstrip("#/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
        return node

    @staticmethod
    def ref_name(node):
        if isinstance(node, dict) and "$ref" in node:
            return node["$ref"].rsplit("/", 1)[-1]
        return None

    def type_of(self, schema):
        name = self.ref_name(schema)
        s = self.resolve(schema) or {}
        if "enum" in s:
            t = " | ".join(json.dumps(v) for v in s["enum"][:12]) + (" | …" if len(s["enum"]) > 12 else "")
        elif "oneOf" in s or "anyOf" in s:
            t = " or ".join(self.type_of(x) for x in s.get("oneOf", s.get("anyOf")))
        else:
            t = s.get("type", "any")
            if isinstance(t, list):
                t = " | ".join(t)
            if "array" in str(t) and "items" in s:
                t = t.replace("array", f"array of {self.type_of(s['items'])}")
            if s.get("format"):
                t += f" ({s['format']})"
        return f"<a href='#schema-{esc(name)}'>{esc(name)}</a>" if name else esc(t)

    def schema_table(self, schema, depth=0):
        s = self.resolve(schema) or {}
        props = s.get("properties")
        if not props or depth > 2:
            return ""
        req = set(s.get("required", []))
        rows = []
        for k, v in props.items():
            rv = self.resolve(v) or {}
            rules = []
            for key in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern"):
                if key in rv:
                    rules.append(f"{key} {rv[key]}")
            desc = markdown(rv.get("description", "")) + (
                "<p class='rules'>" + esc(", ".join(rules)) + "</p>" if rules else "")
            nested = "" if self.ref_name(v) else self.schema_table(v, depth + 1)
            rows.append(f"<tr><td><code>{esc(k)}</code>{' <span class=req>required</span>' if k in req else ''}"
                        f"</td><td>{self.type_of(v)}</td><td>{desc}{nested}</td></tr>")
        return "<table class=schema><tr><th>field</th><th>type</th><th>meaning</th></tr>" + "".join(rows) + "</table>"

    def operation(self, path, method, op, shared_params):
        oid = op.get("operationId", f"{method}-{path}")
        parts = [f"<section class=op id='{esc(oid)}'><h3><span class='m {method}'>{method.upper()}</span> "
                 f"<code>{esc(path)}</code></h3>"]
        if op.get("summary"):
            parts.append(f"<p class=summary>{esc(op['summary'])}</p>")
        parts.append(markdown(op.get("description", "")))
        if op.get("security") == []:
            parts.append("<p class=note>No token needed.</p>")
        params = [self.resolve(p) for p in shared_params + op.get("parameters", [])]
        if params:
            parts.append("<h4>Parameters</h4><table class=schema><tr><th>name</th><th>in</th><th>type</th><th>meaning</th></tr>")
            for p in params:
                parts.append(f"<tr><td><code>{esc(p.get('name'))}</code>{' <span class=req>required</span>' if p.get('required') else ''}"
                             f"</td><td>{esc(p.get('in'))}</td><td>{self.type_of(p.get('schema', {}))}</td>"
                             f"<td>{markdown(p.get('description', ''))}</td></tr>")
            parts.append("</table>")
        body = self.resolve(op.get("requestBody"))
        if body:
            parts.append("<h4>Request body</h4>")
            for ctype, media in (body.get("content") or {}).items():
                parts.append(f"<p><code>{esc(ctype)}</code>: {self.type_of(media.get('schema', {}))}</p>")
        parts.append("<h4>Responses</h4><table class=schema><tr><th>status</th><th>body</th><th>meaning</th></tr>")
        for status, resp in (op.get("responses") or {}).items():
            r = self.resolve(resp)
            bodies = ", ".join(f"<code>{esc(c)}</code> {self.type_of(m.get('schema', {}))}"
                               for c, m in (r.get("content") or {}).items())
            parts.append(f"<tr><td>{esc(status)}</td><td>{bodies}</td><td>{markdown(r.get('description', ''))}</td></tr>")
        parts.append("</table></section>")
        return "\n".join(parts)

    def render(self):
        info = self.spec.get("info", {})
        ops_by_tag, nav = {}, []
        for path, item in (self.spec.get("paths") or {}).items():
            shared = item.get("parameters", [])
            for method in METHODS:
                if method in item:
                    op = item[method]
                    tag = (op.get("tags") or ["other"])[0]
                    ops_by_tag.setdefault(tag, []).append(self.operation(path, method, op, shared))
        body = []
        tags = {t["name"]: t.get("description", "") for t in self.spec.get("tags", [])}
        for tag in sorted(ops_by_tag):
            nav.append(f"<li><a href='#tag-{esc(tag)}'>{esc(tag)}</a></li>")
            body.append(f"<h2 id='tag-{esc(tag)}'>{esc(tag)}</h2>{markdown(tags.get(tag, ''))}")
            body.extend(ops_by_tag[tag])
        schemas = (self.spec.get("components") or {}).get("schemas") or {}
        body.append("<h2 id=schemas>Schemas</h2>")
        for name in sorted(schemas):
            s = schemas[name]
            body.append(f"<section class=op id='schema-{esc(name)}'><h3>{esc(name)}</h3>"
                        f"{markdown(s.get('description', ''))}<p>{esc(s.get('type', ''))}</p>{self.schema_table(s)}</section>")
        nav.append("<li><a href='#schemas'>schemas</a></li>")
        return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>{esc(info.get('title', 'API'))} {esc(info.get('version', ''))} — API reference</title>
<style>
body{{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2430}}
nav{{position:sticky;top:0;height:100vh;overflow:auto;min-width:190px;background:#f3f5f8;padding:1em;box-sizing:border-box}}
nav ul{{list-style:none;padding:0}} main{{padding:1em 2em;max-width:1100px}}
code{{background:#f1f1f4;padding:0 .25em;border-radius:3px}}
.op{{border-top:1px solid #dde1e7;padding:.5em 0 1em}}
.m{{display:inline-block;min-width:4.2em;text-align:center;color:#fff;border-radius:4px;font-size:.8em;padding:.1em .4em}}
.get{{background:#2f7d32}}.post{{background:#1b5fa8}}.put{{background:#8a5a00}}.patch{{background:#6a3fa0}}.delete{{background:#b3261e}}
table.schema{{border-collapse:collapse;width:100%;margin:.4em 0}}
table.schema td,table.schema th{{border:1px solid #e2e5ea;padding:.3em .5em;vertical-align:top;text-align:left}}
.req{{color:#b3261e;font-size:.8em}} .rules{{color:#5b6473;font-size:.85em}} .summary{{font-weight:600}}
.note{{color:#5b6473}}
</style></head><body>
<nav><strong>{esc(info.get('title', 'API'))}</strong> <small>{esc(info.get('version', ''))}</small><ul>{''.join(nav)}</ul>
<p><a href="/openapi.yaml">openapi.yaml</a></p></nav>
<main><h1>{esc(info.get('title', 'API'))} API reference</h1>
<p class=summary>{esc(info.get('summary', ''))}</p>{markdown(info.get('description', ''))}
{''.join(body)}
</main></body></html>
"""


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    out = Doc(spec).render()
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(out)


if __name__ == "__main__":
    main()
