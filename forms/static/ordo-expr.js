/* Ordo expressions in the browser: the runtime helpers that compiled expressions call (namespace OrdoExpr).
 *
 * dsl/expr/to_js.py compiles a checked expression to a JavaScript function `function (r, env) {...}`
 * whose body calls only these helpers (as `E.name`), so that the browser computes exactly what the
 * server's Python back-end computes:
 *   - numbers are exact decimals (a BigInt coefficient and a scale, like Python's Decimal), with a flag
 *     telling whole numbers (Python int) from decimals; division and sqrt keep 28 significant digits
 *     rounded half-even, round() rounds half away from zero;
 *   - dates are day ordinals (0001-01-01 = 1) and datetimes a day ordinal plus microseconds, in UTC;
 *   - strings are compared and measured by code points;
 *   - null propagates through arithmetic and comparisons; and/or/not are three-valued; == is null-safe.
 * Records are plain objects; a link is the linked record's name (or a nested object); `env.link(entity,
 * value)` supplies linked records. No eval, no framework: it runs as a plain <script> and under Node.
 */
(function (root) {
  "use strict";

  var PREC = 28;          // significant digits of a division or square root (Python's Decimal context)
  var MAX_TEXT = 100000;  // longest string an expression may build (dsl/expr/limits.py)
  var ROUND_MIN = 0, ROUND_MAX = 10;
  var ORD_MIN = 1, ORD_MAX = 3652059;  // 0001-01-01 .. 9999-12-31
  var DAY_US = 86400000000;
  var TEN = 10n;

  // -- numbers ---------------------------------------------------------------------------------------
  function Num(m, s, isInt) { this.m = m; this.s = s; this.i = !!isInt; }  // value m * 10^-s
  Num.prototype.toString = function () { return numText(this); };
  Num.prototype.toJSON = function () { return numText(this); };

  function pow10(n) { return TEN ** BigInt(n); }
  function digits(m) { if (m < 0n) { m = -m; } return m === 0n ? 1 : m.toString().length; }
  function abs(m) { return m < 0n ? -m : m; }
  function int(v) { return new Num(BigInt(v), 0, true); }

  function numText(x) {
    var neg = x.m < 0n, t = abs(x.m).toString();
    if (x.s <= 0) {
      t = x.m === 0n ? "0" : t + "0".repeat(-x.s);
    } else {
      if (t.length <= x.s) { t = "0".repeat(x.s - t.length + 1) + t; }
      t = t.slice(0, t.length - x.s) + "." + t.slice(t.length - x.s);
    }
    return (neg ? "-" : "") + t;
  }

  var NUM_RE = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?\s*$/;

  /** A number from text ("12.50", "-3", "1e3") or a JS number; null for blank or unreadable text. */
  function num(v, isInt) {
    if (v === null || v === undefined || v === "") { return null; }
    if (v instanceof Num) { return v; }
    if (typeof v === "bigint") { return new Num(v, 0, true); }
    if (typeof v === "number") {
      if (!isFinite(v)) { return null; }
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) { return new Num(BigInt(v), 0, isInt !== false); }
      v = String(v);
    }
    var g = NUM_RE.exec(String(v));
    if (!g || (g[2] === "" && (g[3] === undefined || g[3] === ""))) { return null; }
    var frac = g[3] || "", exp = g[4] ? parseInt(g[4], 10) : 0;
    if (Math.abs(exp) > 60 || g[2].length + frac.length > 100) { return null; }
    var m = BigInt((g[1] === "-" ? "-" : "") + (g[2] || "0") + frac);
    var s = frac.length - exp;
    var whole = isInt === undefined ? (frac === "" && exp === 0) : isInt;
    if (whole && s < 0) { m = m * pow10(-s); s = 0; }
    return new Num(m, s, whole);
  }

  function align(a, b) {  // coefficients of a and b at one scale
    if (a.s === b.s) { return [a.m, b.m, a.s]; }
    if (a.s > b.s) { return [a.m, b.m * pow10(a.s - b.s), a.s]; }
    return [a.m * pow10(b.s - a.s), b.m, b.s];
  }

  /** Round m * 10^-s to `prec` significant digits, half-even (`sticky`: a discarded non-zero tail). */
  function roundSig(m, s, prec, sticky) {
    var n = digits(m);
    if (n <= prec) { return [m, s]; }
    var drop = n - prec, d = pow10(drop), neg = m < 0n, a = abs(m);
    var keep = a / d, r = a % d, half = d / 2n;
    if (r > half || (r === half && (sticky || keep % 2n === 1n))) { keep += 1n; }
    s -= drop;
    if (keep === pow10(prec)) { keep /= TEN; s -= 1; }
    return [neg ? -keep : keep, s];
  }

  function ctx(m, s, isInt) {  // a decimal result of + - * rounded to the context's precision
    if (isInt) { return new Num(m, s, true); }
    var r = roundSig(m, s, PREC, false);
    return new Num(r[0], r[1], false);
  }

  function strip(m, s, ideal) {  // drop trailing zeros of an exact result, down to the ideal scale
    while (s > ideal && m !== 0n && m % TEN === 0n) { m /= TEN; s -= 1; }
    if (m === 0n && s > ideal) { s = ideal; }
    return [m, s];
  }

  function add(a, b) {
    if (a === null || b === null) { return null; }
    var x = align(a, b);
    return ctx(x[0] + x[1], x[2], a.i && b.i);
  }
  function sub(a, b) {
    if (a === null || b === null) { return null; }
    var x = align(a, b);
    return ctx(x[0] - x[1], x[2], a.i && b.i);
  }
  function mul(a, b) {
    if (a === null || b === null) { return null; }
    return ctx(a.m * b.m, a.s + b.s, a.i && b.i);
  }
  function neg(a) { return a === null ? null : new Num(-a.m, a.s, a.i); }
  function absNum(a) { return a === null ? null : new Num(abs(a.m), a.s, a.i); }

  function div(a, b) {
    if (a === null || b === null || b.m === 0n) { return null; }
    var ideal = a.s - b.s;
    if (a.m === 0n) { return new Num(0n, ideal, false); }
    var k = Math.max(0, digits(b.m) + PREC + 1 - digits(a.m));
    var num_ = abs(a.m) * pow10(k), den = abs(b.m);
    var q = num_ / den, rem = num_ % den, s = ideal + k, r;
    if (rem === 0n) {
      r = strip(q, s, ideal);
      r = roundSig(r[0], r[1], PREC, false);
    } else {
      r = roundSig(q, s, PREC, true);
    }
    return new Num((a.m < 0n) !== (b.m < 0n) ? -r[0] : r[0], r[1], false);
  }

  function mod(a, b) {  // integers; the sign of a (as Python's Ordo runtime and SQL do)
    if (a === null || b === null || b.m === 0n) { return null; }
    var x = align(a, b), r = abs(x[0]) % abs(x[1]);
    return new Num(x[0] < 0n ? -r : r, x[2], a.i && b.i);
  }

  function isqrt(n) {
    if (n < 2n) { return n; }
    var x = BigInt(Math.floor(Math.sqrt(Number(n)))) + 1n;
    if (x * x < n) { x = 1n << BigInt(Math.ceil(n.toString(2).length / 2) + 1); }
    for (;;) {
      var y = (x + n / x) / 2n;
      if (y >= x) { break; }
      x = y;
    }
    while (x * x > n) { x -= 1n; }
    return x;
  }

  function sqrt(a) {
    if (a === null || a.m < 0n) { return null; }
    var ideal = Math.ceil(a.s / 2);
    if (a.m === 0n) { return new Num(0n, ideal, false); }
    var t = Math.max(Math.ceil((2 * (PREC + 1) - digits(a.m) + a.s) / 2), ideal);
    var n = a.m * pow10(2 * t - a.s), q = isqrt(n), r;
    if (q * q === n) {
      r = strip(q, t, ideal);
      r = roundSig(r[0], r[1], PREC, false);
    } else {
      r = roundSig(q, t, PREC, true);
    }
    return new Num(r[0], r[1], false);
  }

  /** x at `scale` places, half away from zero (Num; whole-number flag as given). */
  function rescale(x, scale, isInt) {
    if (x.s <= scale) { return new Num(x.m * pow10(scale - x.s), scale, isInt); }
    var d = pow10(x.s - scale), a = abs(x.m), q = a / d;
    if ((a % d) * 2n >= d) { q += 1n; }
    return new Num(x.m < 0n ? -q : q, scale, isInt);
  }

  function round(x, n) {
    if (n === undefined) { n = int(0); }
    if (x === null || n === null) { return null; }
    var digitsWanted = toNumber(n);
    if (!(digitsWanted >= ROUND_MIN && digitsWanted <= ROUND_MAX)) { return null; }
    return rescale(x, digitsWanted, false);
  }

  function floorCeil(x, up) {
    if (x === null) { return null; }
    if (x.s <= 0) { return new Num(x.m * pow10(-x.s), 0, true); }
    var d = pow10(x.s), q = x.m / d, r = x.m % d;  // BigInt division truncates toward zero
    if (r !== 0n && (up ? x.m > 0n : x.m < 0n)) { q += up ? 1n : -1n; }
    return new Num(q, 0, true);
  }

  function toNumber(x) { return x === null ? null : Number(numText(x)); }

  // -- dates -----------------------------------------------------------------------------------------
  function ODate(d) { this.d = d; }  // proleptic Gregorian day ordinal, 0001-01-01 = 1
  ODate.prototype.toString = function () { return dateText(this.d); };
  ODate.prototype.toJSON = ODate.prototype.toString;
  function ODateTime(d, us) { this.d = d; this.us = us; }  // day ordinal + microseconds of the day (UTC)
  ODateTime.prototype.toString = function () {
    var us = this.us, t = Math.floor(us / 1000000), f = us % 1000000;
    var text = dateText(this.d) + "T" + pad(Math.floor(t / 3600), 2) + ":" + pad(Math.floor(t / 60) % 60, 2) +
      ":" + pad(t % 60, 2);
    return f ? text + "." + pad(f, 6) : text;
  };
  ODateTime.prototype.toJSON = ODateTime.prototype.toString;

  function pad(n, w) { var t = String(n); while (t.length < w) { t = "0" + t; } return t; }

  function ordinal(y, m, d) {  // days_from_civil (H. Hinnant), shifted so that 0001-01-01 = 1
    y -= m <= 2 ? 1 : 0;
    var era = Math.floor(y / 400), yoe = y - era * 400;
    var doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    var doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468 + 719163;
  }

  function civil(n) {
    var z = n - 719163 + 719468, era = Math.floor(z / 146097), doe = z - era * 146097;
    var yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
    var doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    var mp = Math.floor((5 * doy + 2) / 153), d = doy - Math.floor((153 * mp + 2) / 5) + 1;
    var m = mp + (mp < 10 ? 3 : -9);
    return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
  }

  function dateText(n) { var c = civil(n); return pad(c[0], 4) + "-" + pad(c[1], 2) + "-" + pad(c[2], 2); }

  var DATE_RE = /^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*$/;

  function parseParts(v) {
    var g = DATE_RE.exec(String(v));
    if (!g) { return null; }
    var y = +g[1], mo = +g[2], d = +g[3];
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31) { return null; }
    var n = ordinal(y, mo, d), back = civil(n);
    if (back[1] !== mo || back[2] !== d) { return null; }
    var h = +(g[4] || 0), mi = +(g[5] || 0), se = +(g[6] || 0), us = g[7] ? +(g[7] + "00000").slice(0, 6) : 0;
    if (h > 23 || mi > 59 || se > 59) { return null; }
    return [n, ((h * 60 + mi) * 60 + se) * 1000000 + us];
  }

  /** A date from "YYYY-MM-DD" (or an ODate/ODateTime); null for blank or invalid text. */
  function date(v) {
    if (v === null || v === undefined || v === "") { return null; }
    if (v instanceof ODate) { return v; }
    if (v instanceof ODateTime) { return new ODate(v.d); }
    var p = parseParts(v);
    return p === null ? null : new ODate(p[0]);
  }

  /** A datetime from "YYYY-MM-DDTHH:MM[:SS[.ffffff]]" (UTC); null for blank or invalid text. */
  function datetime(v) {
    if (v === null || v === undefined || v === "") { return null; }
    if (v instanceof ODateTime) { return v; }
    if (v instanceof ODate) { return new ODateTime(v.d, 0); }
    var p = parseParts(v);
    return p === null ? null : new ODateTime(p[0], p[1]);
  }

  function fromMillis(ms) {
    var day = Math.floor(ms / 86400000);
    return new ODateTime(day + 719163, (ms - day * 86400000) * 1000);
  }

  function shiftDays(a, n) {  // a date/datetime n days later; null outside years 1..9999
    if (a === null || n === null) { return null; }
    if (a instanceof ODate) {
      var k = n instanceof Num ? floorCeil(n, n.m < 0n) : n;  // int(n): toward zero
      var d = a.d + Number(k.m);
      return d >= ORD_MIN && d <= ORD_MAX ? new ODate(d) : null;
    }
    var us = Math.round(toNumber(n) * DAY_US);
    if (!isFinite(us) || Math.abs(us) > (ORD_MAX + 1) * DAY_US) { return null; }
    var total = a.us + us, day = Math.floor(total / DAY_US), rest = total - day * DAY_US, dd = a.d + day;
    return dd >= ORD_MIN && dd <= ORD_MAX ? new ODateTime(dd, rest) : null;
  }

  function dateSub(a, b) {
    if (a === null || b === null) { return null; }
    if (b instanceof Num) { return shiftDays(a, neg(b)); }
    if (a instanceof ODate) { return int(a.d - b.d); }
    var total = BigInt(a.d - b.d) * BigInt(DAY_US) + BigInt(a.us - b.us);
    var days = total / BigInt(DAY_US);
    if (total % BigInt(DAY_US) < 0n) { days -= 1n; }
    var rest = Number(total - days * BigInt(DAY_US));
    var secs = Math.floor(rest / 1000000), micros = rest % 1000000;
    return add(add(new Num(days, 0, true), div(int(secs), int(86400))), div(int(micros), int(86400000000)));
  }

  function datePart(part, d) {
    if (d === null) { return null; }
    return int(civil(d.d)[part]);
  }

  // -- strings ---------------------------------------------------------------------------------------
  var SURROGATE = /[\ud800-\udfff]/;

  function cpLen(s) {
    if (!SURROGATE.test(s)) { return s.length; }
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        var c2 = s.charCodeAt(i + 1);
        if (c2 >= 0xdc00 && c2 <= 0xdfff) { i++; }
      }
      n++;
    }
    return n;
  }

  function cpCompare(a, b) {  // code point order, as Python compares strings
    if (!SURROGATE.test(a) && !SURROGATE.test(b)) { return a < b ? -1 : (a > b ? 1 : 0); }
    var x = Array.from(a), y = Array.from(b), n = Math.min(x.length, y.length);
    for (var i = 0; i < n; i++) {
      var p = x[i].codePointAt(0), q = y[i].codePointAt(0);
      if (p !== q) { return p < q ? -1 : 1; }
    }
    return x.length - y.length < 0 ? -1 : (x.length > y.length ? 1 : 0);
  }

  function substr(s, start, length) {
    if (s === null || start === null || length === null) { return null; }
    var chars = SURROGATE.test(s) ? Array.from(s) : null, n = chars ? chars.length : s.length;
    var st = toNumber(start), begin = Math.max(st - 1, 0), end = n;
    if (length !== undefined) { end = begin + Math.max(toNumber(length), 0); }
    if (begin >= n) { return ""; }
    end = Math.min(end, n);
    return chars ? chars.slice(begin, end).join("") : s.slice(begin, end);
  }

  function replace(s, old, new_) {
    if (s === null || old === null || new_ === null) { return null; }
    if (old === "") { return s; }
    var parts = s.split(old), lo = cpLen(old), ln = cpLen(new_);
    if (ln > lo && cpLen(s) + (parts.length - 1) * (ln - lo) > MAX_TEXT) { return null; }
    return parts.join(new_);
  }

  function concat() {
    var out = "", n = 0;
    for (var i = 0; i < arguments.length; i++) {
      var a = arguments[i];
      if (a !== null) { out += a; n += cpLen(a); }
    }
    return n > MAX_TEXT ? null : out;
  }

  function cat() {
    var n = 0;
    for (var i = 0; i < arguments.length; i++) {
      if (arguments[i] === null) { return null; }
      n += cpLen(arguments[i]);
    }
    return n > MAX_TEXT ? null : Array.prototype.join.call(arguments, "");
  }

  function trim(s) { return s === null ? null : s.replace(/^ +| +$/g, ""); }

  // -- comparison and logic --------------------------------------------------------------------------
  function cmp(a, b) {  // both non-null, of one kind
    if (a instanceof Num) { var x = align(a, b); return x[0] < x[1] ? -1 : (x[0] > x[1] ? 1 : 0); }
    if (a instanceof ODate) { return a.d - b.d; }
    if (a instanceof ODateTime) { return a.d !== b.d ? a.d - b.d : a.us - b.us; }
    if (typeof a === "string") { return cpCompare(a, b); }
    return a === b ? 0 : (a < b ? -1 : 1);
  }

  function eq(a, b) {
    if (a === null || b === null) { return a === b; }
    if (a instanceof Num && b instanceof Num) { return cmp(a, b) === 0; }
    if (a instanceof ODate && b instanceof ODate) { return a.d === b.d; }
    if (a instanceof ODateTime && b instanceof ODateTime) { return a.d === b.d && a.us === b.us; }
    if (typeof a === "object" && typeof b === "object") { return keyOf(a) === keyOf(b); }
    return a === b;
  }

  function keyOf(v) {  // a link value given as a nested record compares by its name
    return v !== null && typeof v === "object" && Object.prototype.hasOwnProperty.call(v, "name") ? v.name : v;
  }

  function compare(op, a, b) {
    if (a === null || b === null) { return null; }
    var c = cmp(a, b);
    switch (op) {
      case "<": return c < 0;
      case "<=": return c <= 0;
      case ">": return c > 0;
      default: return c >= 0;
    }
  }

  function and(a, b) {
    if (a === false || b === false) { return false; }
    return a === null || b === null ? null : true;
  }
  function or(a, b) {
    if (a === true || b === true) { return true; }
    return a === null || b === null ? null : false;
  }
  function not(a) { return a === null ? null : !a; }

  function in_(x, items) {
    if (items === null) { return null; }
    if (items.length === 0) { return false; }
    if (x === null) { return null; }
    var hasNull = false;
    for (var i = 0; i < items.length; i++) {
      if (items[i] === null) { hasNull = true; } else if (eq(x, items[i])) { return true; }
    }
    return hasNull ? null : false;
  }

  function coalesce() {
    for (var i = 0; i < arguments.length; i++) { if (arguments[i] !== null) { return arguments[i]; } }
    return null;
  }

  function minmax(sign, args) {
    var best = null;
    for (var i = 0; i < args.length; i++) {
      if (args[i] === null) { return null; }
      if (best === null || cmp(args[i], best) * sign > 0) { best = args[i]; }
    }
    return best;
  }

  // -- records, links and child rows -----------------------------------------------------------------
  function get(rec, name) {
    if (rec === null || rec === undefined || typeof rec !== "object") { return null; }
    if (!Object.prototype.hasOwnProperty.call(rec, name)) { return null; }
    var v = rec[name];
    return v === undefined ? null : v;
  }

  function linked(env, entity, value) {  // the linked record (an object) or null
    if (value === null || value === undefined) { return null; }
    if (typeof value === "object" && !(value instanceof Num)) { return value; }
    if (!env || typeof env.link !== "function") { return null; }
    var rec = env.link(entity, value instanceof Num ? numText(value) : value);
    return rec === undefined ? null : rec;
  }

  function lf(env, entity, value, name) { return get(linked(env, entity, value), name); }

  function rows(v) { return Array.isArray(v) ? v : []; }

  function aggValues(list, env, fn) {
    var out = [];
    for (var i = 0; i < list.length; i++) { var v = fn(list[i], env); if (v !== null) { out.push(v); } }
    return out;
  }

  var agg = {
    sum: function (list, env, fn) {
      var total = int(0);
      for (var i = 0; i < list.length; i++) { var v = fn(list[i], env); if (v !== null) { total = add(total, v); } }
      return total;
    },
    count: function (list, env, fn) {
      if (!fn) { return int(list.length); }
      var n = 0;
      for (var i = 0; i < list.length; i++) { if (fn(list[i], env) === true) { n++; } }
      return int(n);
    },
    avg: function (list, env, fn) {
      var vals = aggValues(list, env, fn), total = int(0);
      if (!vals.length) { return null; }
      for (var i = 0; i < vals.length; i++) { total = add(total, new Num(vals[i].m, vals[i].s, false)); }
      return div(total, int(vals.length));
    },
    min: function (list, env, fn) { var v = aggValues(list, env, fn); return v.length ? minmax(-1, v) : null; },
    max: function (list, env, fn) { var v = aggValues(list, env, fn); return v.length ? minmax(1, v) : null; },
    any: function (list, env, fn) {
      for (var i = 0; i < list.length; i++) { if (fn(list[i], env) === true) { return true; } }
      return false;
    },
    all: function (list, env, fn) {
      for (var i = 0; i < list.length; i++) { if (fn(list[i], env) !== true) { return false; } }
      return true;
    },
  };

  // -- distance --------------------------------------------------------------------------------------
  var EARTH_RADIUS_KM = 6371.0088;

  function distance(lat1, lon1, lat2, lon2) {
    if (lat1 === null || lon1 === null || lat2 === null || lon2 === null) { return null; }
    var rad = Math.PI / 180, p1 = toNumber(lat1) * rad, p2 = toNumber(lat2) * rad;
    var dp = p2 - p1, dl = (toNumber(lon2) - toNumber(lon1)) * rad;
    var h = Math.pow(Math.sin(dp / 2), 2) + Math.cos(p1) * Math.cos(p2) * Math.pow(Math.sin(dl / 2), 2);
    var km = 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
    return num(km.toFixed(3), false);
  }

  // -- the environment -------------------------------------------------------------------------------
  /** An evaluation environment: `link(entity, value)` gives a linked record or null, `params` the values
   * of :name parameters, `now` a fixed ODateTime (default: the clock, UTC). */
  function env(options) {
    var o = options || {};
    return {
      link: o.link || function () { return null; },
      params: o.params || {},
      fixedNow: o.now ? datetime(o.now) : null,
    };
  }
  function now(e) { return e && e.fixedNow ? e.fixedNow : fromMillis(Date.now()); }
  function today(e) { return new ODate(now(e).d); }

  var E = {
    Num: Num, ODate: ODate, ODateTime: ODateTime, PREC: PREC, MAX_TEXT: MAX_TEXT,
    num: num, int: int, date: date, datetime: datetime, env: env, numText: numText, toNumber: toNumber,
    rescale: rescale,
    add: add, sub: sub, mul: mul, div: div, mod: mod, neg: neg, abs: absNum, sqrt: sqrt, round: round,
    floor: function (x) { return floorCeil(x, false); }, ceil: function (x) { return floorCeil(x, true); },
    dateAdd: shiftDays, dateSub: dateSub, datePart: datePart,
    toDate: function (d) { return d === null ? null : (d instanceof ODateTime ? new ODate(d.d) : d); },
    today: today, now: now,
    len: function (s) { return s === null ? null : int(cpLen(s)); },
    lower: function (s) { return s === null ? null : s.toLowerCase(); },
    upper: function (s) { return s === null ? null : s.toUpperCase(); },
    trim: trim, substr: substr, replace: replace, concat: concat, cat: cat,
    contains: function (s, p) { return s === null || p === null ? null : s.indexOf(p) >= 0; },
    startsWith: function (s, p) { return s === null || p === null ? null : s.startsWith(p); },
    endsWith: function (s, p) { return s === null || p === null ? null : s.endsWith(p); },
    eq: eq, ne: function (a, b) { return !eq(a, b); }, compare: compare, and: and, or: or, not: not, in: in_,
    notIn: function (x, items) { return not(in_(x, items)); },
    if: function (c, a, b) { return c === true ? a : b; },
    coalesce: coalesce, isNull: function (x) { return x === null; },
    isBlank: function (s) { return s === null || s === ""; },
    min: function () { return minmax(-1, arguments); }, max: function () { return minmax(1, arguments); },
    get: get, lf: lf, linked: linked, rows: rows, agg: agg, distance: distance,
  };

  root.OrdoExpr = E;
  if (typeof module !== "undefined" && module.exports) { module.exports = E; }
})(typeof globalThis !== "undefined" ? globalThis : this);
