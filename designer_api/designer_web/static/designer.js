/* Ordo designer pages: live YAML validation with errors at their lines, expression checks as you type,
   clickable diagram steps. Plain JavaScript, no build step. */
(function () {
  "use strict";
  var base = document.body.dataset.base || "";

  function csrf(form) {
    var f = form || document.querySelector("input[name=csrf_token]");
    var input = f && (f.name === "csrf_token" ? f : f.querySelector("input[name=csrf_token]"));
    return input ? input.value : "";
  }

  function post(path, fields) {
    var body = new URLSearchParams(fields);
    return fetch(base + path, {method: "POST", body: body, credentials: "same-origin",
      headers: {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}})
      .then(function (r) { return r.json(); });
  }

  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  // -- the YAML box: line numbers, errors at their lines, validation as you type
  function selectLine(area, line) {
    var lines = area.value.split("\n");
    line = Math.max(1, Math.min(line, lines.length));
    var start = 0;
    for (var i = 0; i < line - 1; i++) { start += lines[i].length + 1; }
    area.focus();
    area.setSelectionRange(start, start + lines[line - 1].length);
    var lh = parseFloat(getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 5) * lh);
    area.dataset.line = String(line);
  }

  function gutter(box) {
    var area = box.querySelector("textarea"), pre = box.querySelector(".gutter");
    var n = area.value.split("\n").length, out = [];
    for (var i = 1; i <= n; i++) { out.push(i); }
    pre.textContent = out.join("\n");
    pre.scrollTop = area.scrollTop;
  }

  function markErrors(box, errors) {
    var pre = box.querySelector(".gutter");
    var bad = {};
    errors.forEach(function (e) { if (e.line) { bad[e.line] = true; } });
    var n = box.querySelector("textarea").value.split("\n").length, html = [];
    for (var i = 1; i <= n; i++) { html.push(bad[i] ? '<b class="bad">' + i + "</b>" : String(i)); }
    pre.innerHTML = html.join("\n");
  }

  function showErrors(holder, errors, path) {
    holder.innerHTML = "";
    if (!errors.length) { return; }
    var ul = document.createElement("ul");
    ul.className = "alert error";
    ul.setAttribute("role", "alert");
    errors.forEach(function (e) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.className = "at-line";
      a.href = base + "/designer/file?path=" + encodeURIComponent(e.file || path) + (e.line ? "#L" + e.line : "");
      a.dataset.line = e.line || "";
      a.dataset.file = e.file || "";
      a.textContent = e.where;
      li.appendChild(a);
      li.appendChild(document.createTextNode(": " + e.message));
      ul.appendChild(li);
    });
    holder.appendChild(ul);
  }

  document.querySelectorAll("form.yaml-form").forEach(function (form) {
    var area = form.querySelector("textarea"), box = form.querySelector(".yaml-box");
    var holder = form.querySelector(".yaml-errors"), status = form.querySelector(".yaml-status");
    var path = form.querySelector("input[name=path]").value;
    gutter(box);
    var initial = [];
    holder.querySelectorAll("a.at-line").forEach(function (a) { initial.push({line: +a.dataset.line}); });
    markErrors(box, initial);
    area.addEventListener("scroll", function () { box.querySelector(".gutter").scrollTop = area.scrollTop; });
    var check = debounce(function () {
      status.textContent = "…";
      post("/designer/validate", {csrf_token: csrf(form), path: path, text: area.value}).then(function (r) {
        if (r.errors === undefined) { status.textContent = r.message || ""; return; }
        showErrors(holder, r.errors, path);
        markErrors(box, r.errors);
        status.textContent = r.errors.length ? "" : (document.documentElement.lang === "zh-CN" ? "校验通过。" : "Valid.");
        status.dataset.state = r.errors.length ? "invalid" : "valid";
      }).catch(function () { status.textContent = ""; });
    }, 500);
    area.addEventListener("input", function () { gutter(box); status.dataset.state = "checking"; check(); });
    holder.addEventListener("click", function (ev) {
      var a = ev.target.closest("a.at-line");
      if (a && a.dataset.line && (!a.dataset.file || a.dataset.file === path)) {
        ev.preventDefault();
        selectLine(area, +a.dataset.line);
      }
    });
    var m = /^#L(\d+)$/.exec(location.hash);
    if (m) { selectLine(area, +m[1]); }
  });

  // -- expression boxes: type-checked against the flow's entity as you type
  document.querySelectorAll("input[data-check-expr]").forEach(function (input) {
    var out = document.createElement("small");
    out.className = "expr-status";
    out.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", out);
    var check = debounce(function () {
      post("/designer/check-expr", {csrf_token: csrf(), flow: input.dataset.checkExpr, text: input.value,
                                    expect: input.dataset.expect || ""}).then(function (r) {
        input.setAttribute("aria-invalid", r.ok ? "false" : "true");
        out.className = "expr-status " + (r.ok ? "ok" : "error");
        out.textContent = r.ok ? "✓ " + r.type : (r.message || "") + (r.column ? " (" + r.column + ")" : "");
      }).catch(function () { out.textContent = ""; });
    }, 350);
    input.addEventListener("input", check);
    if (input.value) { check(); }
  });

  // -- the diagram: click a step to edit it
  document.querySelectorAll(".diagram[data-node-href]").forEach(function (holder) {
    holder.addEventListener("click", function (ev) {
      var g = ev.target.closest("g.node");
      if (g && g.id.indexOf("node-") === 0) {
        location.href = holder.dataset.nodeHref + encodeURIComponent(g.id.slice(5)) + "#props";
      }
    });
  });
})();
