// Test helper: evaluates compiled expressions with forms/static/ordo-expr.js under Node.
// Reads one JSON request per line on stdin: {"src": "function (r, env) {...}", "records": [...],
// "now": "YYYY-MM-DDTHH:MM:SS"}; writes one JSON line: {"values": [...]} or {"error": "..."}.
// Values are typed as tests/jskit.py encodes them: {"$n": "12.50", "i": true|false}, {"$d": "2026-01-02"},
// {"$t": "2026-01-02T10:00:00"}; anything else is plain JSON.
"use strict";
const path = require("path");
const readline = require("readline");
const E = require(path.resolve(process.argv[2]));

function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === "object") {
    if ("$n" in v) return E.num(v.$n, v.i);
    if ("$d" in v) return E.date(v.$d);
    if ("$t" in v) return E.datetime(v.$t);
    const out = {};
    for (const k of Object.keys(v)) out[k] = decode(v[k]);
    return out;
  }
  return v;
}

function encode(v) {
  if (v instanceof E.Num) return { $n: E.numText(v), i: v.i };
  if (v instanceof E.ODate) return { $d: v.toString() };
  if (v instanceof E.ODateTime) return { $t: v.toString() };
  if (v === undefined) return { undefined: true };
  return v;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let reply;
  try {
    const req = JSON.parse(line);
    const fn = new Function("E", "return (" + req.src + ");")(E);
    const env = E.env({ now: req.now });
    reply = { values: req.records.map((r) => encode(fn(decode(r), env))) };
  } catch (e) {
    reply = { error: String(e && e.stack || e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
