"""``/docs``: a small page of our own that renders ``/openapi.json``, with nothing from a CDN.

Why our own page and not Swagger UI: the page must work with the network off, and the only
way Swagger UI gets there is a multi-megabyte asset bundle as a run-time dependency of every
install, for a reference page of eleven routes. This page is ~8 KB, inline CSS and JS, and the
Content-Security-Policy it is served with lets the browser load nothing but this page and
our own ``openapi.json`` (and send "try it" requests to our own origin) — so an external asset
could not sneak in even by mistake. It shows each route's body, responses, error codes,
schemas and whether it needs a token, and sends requests to this server.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["DOCS_HEADERS", "DOCS_HTML"]

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2129;background:#f6f7f9}
header,main{max-width:960px;margin:0 auto;padding:0 16px}
header{padding-top:16px}h1{margin:8px 0}h2{margin-top:28px;border-bottom:1px solid #ccd}
.desc{white-space:pre-wrap;color:#4e5969}
details{background:#fff;border:1px solid #dde;border-radius:6px;margin:8px 0}
summary{cursor:pointer;padding:8px 12px;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:56px;font-weight:bold;color:#fff;border-radius:4px;
text-align:center;margin-right:8px;padding:0 4px}
.GET{background:#1677ff}.POST{background:#07c160}.PATCH{background:#fa8c16}
.PUT{background:#722ed1}.DELETE{background:#f5222d}
.sum{font-family:system-ui,sans-serif;color:#4e5969;margin-left:8px}
.body{padding:4px 16px 12px}table{border-collapse:collapse;width:100%;margin:6px 0}
td,th{border-bottom:1px solid #eef;padding:4px 6px;text-align:left;vertical-align:top}
code{background:#f0f1f5;padding:0 3px;border-radius:3px}
textarea,input{font:13px ui-monospace,monospace;width:100%;box-sizing:border-box}
pre{background:#f0f1f5;padding:8px;overflow:auto;white-space:pre-wrap}
.err{color:#c00}button{margin:6px 0}
"""

_SCRIPT = r"""
"use strict";
const $ = (tag, attrs, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const kid of kids) if (kid != null) node.append(kid);
  return node;
};
// `code` spans in descriptions; everything else stays text (no HTML from the spec).
const text = (s) => {
  const span = $("span", {class: "desc"});
  String(s || "").split("`").forEach((part, i) => span.append(i % 2 ? $("code", {}, part) : part));
  return span;
};
let spec = null;
const refName = (ref) => ref.split("/").pop();
const typeOf = (s) => {
  if (!s) return "any";
  if (s.$ref) { const n = refName(s.$ref); return $("a", {href: "#schema-" + n}, n); }
  if (s.anyOf) {
    const out = $("span");
    s.anyOf.forEach((alt, i) => { if (i) out.append(" | "); out.append(typeOf(alt)); });
    return out;
  }
  if (s.type === "array") {
    const out = $("span", {}, "array of ");
    out.append(typeOf(s.items));
    return out;
  }
  return (s.type || "any") + (s.format ? " (" + s.format + ")" : "");
};
// For an optional field (anyOf [X, null]) the limits and words sit on X.
const nonNull = (s) => (s.anyOf || []).find((a) => a.type !== "null") || s;
const limits = (s) => {
  const alt = nonNull(s);
  const out = [];
  if (alt.minLength != null) out.push("min " + alt.minLength);
  if (alt.maxLength != null) out.push("max " + alt.maxLength + " chars");
  if (alt.minimum != null) out.push(">= " + alt.minimum);
  return out.join(", ");
};
const resolve = (s) => (s && s.$ref ? spec.components.schemas[refName(s.$ref)] : s);
const fields = (schema) => {
  const s = resolve(schema) || {};
  const required = new Set(s.required || []);
  const rows = Object.entries(s.properties || {}).map(([name, p]) => $("tr", {},
    $("td", {}, $("code", {}, name)), $("td", {}, typeOf(p)),
    $("td", {}, required.has(name) ? "required" : "optional"),
    $("td", {}, limits(p)), $("td", {}, text(p.description || nonNull(p).description || ""))));
  if (!rows.length) return $("div", {}, typeOf(schema));
  const head = ["field", "type", "", "limits", ""].map((h) => $("th", {}, h));
  return $("table", {}, $("tr", {}, ...head), ...rows);
};
const example = (schema) => {
  const s = resolve(schema) || {};
  const out = {};
  for (const name of s.required || Object.keys(s.properties || {})) out[name] = "";
  return JSON.stringify(out, null, 2);
};
const tryIt = (path, method, op) => {
  const box = op.requestBody ? $("textarea", {rows: "5"}) : null;
  if (box) box.value = example(op.requestBody.content["application/json"].schema);
  const out = $("pre", {}, "");
  const send = $("button", {type: "button"}, "Send " + method + " " + path);
  send.addEventListener("click", async () => {
    const headers = {};
    const token = document.getElementById("token").value.trim();
    if (token) headers["Authorization"] = "Bearer " + token;
    if (box) headers["Content-Type"] = "application/json";
    out.textContent = "…";
    try {
      const r = await fetch(path, {method, headers, body: box ? box.value : undefined});
      out.textContent = r.status + " " + r.statusText + "\n" + await r.text();
    } catch (e) { out.textContent = String(e); }
  });
  return $("div", {}, $("h4", {}, "Try it"), box, send, out);
};
const operation = (path, method, op) => {
  const body = $("div", {class: "body"});
  if (op.description) body.append(text(op.description));
  if (op.security) {
    body.append($("p", {}, "Needs ", $("code", {}, "Authorization: Bearer <access_token>"), "."));
  }
  const json = (part) => (part && part.content ? part.content["application/json"] : null);
  if (op.requestBody) {
    body.append($("h4", {}, "Request body (JSON)"), fields(json(op.requestBody).schema));
  }
  body.append($("h4", {}, "Responses"));
  const table = $("table");
  for (const [status, r] of Object.entries(op.responses)) {
    const schema = json(r) ? json(r).schema : null;
    const headers = Object.keys(r.headers || {}).join(", ");
    table.append($("tr", {}, $("td", {class: Number(status) >= 400 ? "err" : ""}, status),
      $("td", {}, text(r.description), headers ? $("div", {}, "headers: " + headers) : null),
      $("td", {}, schema ? typeOf(schema) : "empty")));
  }
  body.append(table, tryIt(path, method.toUpperCase(), op));
  return $("details", {id: op.operationId}, $("summary", {},
    $("span", {class: "m " + method.toUpperCase()}, method.toUpperCase()), path,
    $("span", {class: "sum"}, (op.summary || "") + (op.security ? " · needs a token" : ""))), body);
};
const render = () => {
  const main = document.querySelector("main");
  document.title = spec.info.title + " API";
  document.querySelector("h1").textContent = spec.info.title + " " + spec.info.version;
  document.getElementById("about").append(text(spec.info.description));
  for (const tag of spec.tags || []) {
    main.append($("h2", {id: "tag-" + tag.name}, tag.name), text(tag.description));
    for (const [path, item] of Object.entries(spec.paths))
      for (const [method, op] of Object.entries(item))
        if ((op.tags || []).includes(tag.name)) main.append(operation(path, method, op));
  }
  main.append($("h2", {}, "Schemas"));
  for (const [name, s] of Object.entries(spec.components.schemas))
    main.append($("div", {id: "schema-" + name}, $("h3", {}, name),
      s.description ? text(s.description) : null, fields({$ref: "#/x/" + name})));
};
// A link to #operationId opens that route.
const openLinked = () => {
  const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
};
window.addEventListener("hashchange", openLinked);
fetch("openapi.json").then((r) => r.json()).then((doc) => { spec = doc; render(); openLinked(); })
  .catch((e) => document.querySelector("main")
    .append($("p", {class: "err"}, "could not load openapi.json: " + e)));
"""

DOCS_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference</title>
<style>{_STYLE}</style></head>
<body><header><h1>API reference</h1><p id="about"></p>
<label>Access token for "try it" (from POST /auth/login):
<input id="token" autocomplete="off" spellcheck="false"></label>
<p>The machine-readable document: <a href="openapi.json">openapi.json</a>.</p></header>
<main></main>
<script>{_SCRIPT}</script></body></html>
""".encode()


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# The browser may load this page's own inline style and script (by hash), fetch from our own
# origin, and nothing else: no CDN, no fonts, no images from anywhere.
DOCS_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/html; charset=utf-8"),
    (
        b"content-security-policy",
        (
            "default-src 'none'; "
            f"script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
            "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
        ).encode(),
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-cache"),
]
