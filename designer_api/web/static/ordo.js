// Ordo pages: small helpers without a framework (filter rows, child rows, link pickers, select all).
(function () {
  "use strict";

  function closest(el, sel) { return el && el.closest ? el.closest(sel) : null; }

  // Filter builder: add / remove condition rows.
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.matches && t.matches("[data-add-condition]")) {
      var box = t.form.querySelector("[data-conditions]");
      var rows = box.querySelectorAll("[data-condition]");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.classList.remove("invalid");
      copy.querySelectorAll("small.error").forEach(function (e) { e.remove(); });
      copy.querySelector("input[name=v]").value = "";
      copy.querySelector("select[name=f]").value = "";
      box.appendChild(copy);
      copy.querySelector("select").focus();
    } else if (t.matches && t.matches("[data-remove-condition]")) {
      var row = closest(t, "[data-condition]");
      var all = row.parentNode.querySelectorAll("[data-condition]");
      if (all.length > 1) { row.remove(); } else {
        row.querySelector("input[name=v]").value = ""; row.querySelector("select[name=f]").value = "";
      }
    } else if (t.matches && t.matches("[data-add-row]")) {
      addRow(closest(t, "[data-ordo-child]"));
    } else if (t.matches && t.matches("[data-remove-row]")) {
      var r = closest(t, "[data-ordo-row]");
      var child = closest(r, "[data-ordo-child]");
      r.remove();
      renumber(child);
      changed(child);
    }
  });

  // Child tables: rows named FIELD.N.SUB, renumbered on add / remove.
  function renumber(child) {
    var field = child.getAttribute("data-ordo-child");
    child.querySelectorAll("[data-ordo-row]").forEach(function (row, i) {
      row.querySelectorAll("[name]").forEach(function (input) {
        var parts = input.name.split(".");
        if (parts[0] === field && parts.length >= 3) { parts[1] = String(i); input.name = parts.join("."); }
      });
      row.querySelectorAll("[id]").forEach(function (el) {
        el.id = el.id.replace(new RegExp("^(f-" + field + "-)(\\d+|N)"), "$1" + i);
      });
      row.querySelectorAll("label[for]").forEach(function (el) {
        el.htmlFor = el.htmlFor.replace(new RegExp("^(f-" + field + "-)(\\d+|N)"), "$1" + i);
      });
    });
  }
  function addRow(child) {
    var tpl = child.querySelector("template[data-ordo-row-template]");
    var body = child.querySelector("tbody");
    body.appendChild(tpl.content.cloneNode(true));
    renumber(child);
    var rows = body.querySelectorAll("[data-ordo-row]");
    var first = rows[rows.length - 1].querySelector("input:not([type=hidden]), select");
    if (first) { first.focus(); }
    changed(child);
  }
  function changed(el) {
    var form = closest(el, "form");
    if (form) { form.dispatchEvent(new Event("input", { bubbles: true })); }
  }

  // Link pickers: search-as-you-type against the records API; the hidden input holds the record name.
  var timers = new WeakMap();
  document.addEventListener("input", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("[data-picker]")) { return; }
    var box = closest(input, ".picker");
    var hidden = box.querySelector("input[type=hidden]");
    if (hidden.value !== "" && input.value === "") { hidden.value = ""; changed(hidden); }
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(function () { search(input, box, hidden); }, 200));
  });
  function search(input, box, hidden) {
    var entity = input.getAttribute("data-picker");
    var url = (document.body.getAttribute("data-base") || "") + "/pick/" + encodeURIComponent(entity) + "?term=" + encodeURIComponent(input.value);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (data) { show(input, box, hidden, data.items || []); })
      .catch(function () { show(input, box, hidden, []); });
  }
  function show(input, box, hidden, items) {
    var list = box.querySelector("ul");
    if (!list) { list = document.createElement("ul"); list.setAttribute("role", "listbox"); box.appendChild(list); }
    list.innerHTML = "";
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("data-name", item.name);
      li.setAttribute("aria-selected", i === 0 ? "true" : "false");
      li.textContent = item.title && item.title !== item.name ? item.title + " (" + item.name + ")" : item.name;
      li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(input, box, hidden, item); });
      list.appendChild(li);
    });
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", items.length ? "true" : "false");
  }
  function choose(input, box, hidden, item) {
    hidden.value = item.name;
    input.value = item.title || item.name;
    var list = box.querySelector("ul");
    if (list) { list.hidden = true; }
    input.setAttribute("aria-expanded", "false");
    hidden.dispatchEvent(new Event("change", { bubbles: true }));
    changed(hidden);
  }
  document.addEventListener("keydown", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("[data-picker]")) { return; }
    var box = closest(input, ".picker");
    var list = box.querySelector("ul");
    if (!list || list.hidden) { return; }
    var items = Array.prototype.slice.call(list.querySelectorAll("li"));
    var at = items.findIndex(function (li) { return li.getAttribute("aria-selected") === "true"; });
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      var next = Math.max(0, Math.min(items.length - 1, at + (ev.key === "ArrowDown" ? 1 : -1)));
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === next ? "true" : "false"); });
    } else if (ev.key === "Enter" && at >= 0) {
      ev.preventDefault();
      var li = items[at];
      choose(input, box, box.querySelector("input[type=hidden]"),
             { name: li.getAttribute("data-name"), title: li.textContent.replace(/ \([^)]*\)$/, "") });
    } else if (ev.key === "Escape") { list.hidden = true; }
  });
  document.addEventListener("focusout", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("[data-picker]")) { return; }
    var list = closest(input, ".picker").querySelector("ul");
    if (list) { setTimeout(function () { list.hidden = true; }, 150); }
  });

  // Select all (inbox bulk approve, list bulk edit).
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.matches && t.matches("[data-select-all]")) {
      document.querySelectorAll("input[type=checkbox][name='" + t.getAttribute("data-select-all") + "']")
        .forEach(function (c) { c.checked = t.checked; });
    }
  });
  // Form tabs ([data-ordo-tabs]): without this script every panel shows, one after the other. With it, the
  // tab list appears and one panel at a time (the server selects the first tab holding an error); arrow
  // keys, Home and End move between tabs; a link to a field, or a field turning invalid, shows its tab.
  function selectTab(tab, focus) {
    var set = closest(tab, "[data-ordo-tabs]");
    set.querySelectorAll("[role=tab]").forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) { panel.hidden = !on; }
    });
    if (focus) { tab.focus(); }
  }
  function showTabOf(el) {
    var panel = closest(el, "[role=tabpanel]");
    var tab = panel && document.getElementById(panel.getAttribute("aria-labelledby"));
    if (tab && panel.hidden) { selectTab(tab, false); }
  }
  function markTabs() {
    document.querySelectorAll("[data-ordo-tabs] [role=tabpanel]").forEach(function (panel) {
      var tab = document.getElementById(panel.getAttribute("aria-labelledby"));
      if (tab) { tab.classList.toggle("invalid", !!panel.querySelector(".invalid, [aria-invalid=true]")); }
    });
  }
  document.querySelectorAll("[data-ordo-tabs]").forEach(function (set) {
    var list = set.querySelector("[role=tablist]");
    list.hidden = false;
    set.querySelectorAll(".tab-title").forEach(function (h) { h.hidden = true; });
    selectTab(list.querySelector("[aria-selected=true]") || list.querySelector("[role=tab]"), false);
    // a tab whose every section the form's rules fold away (visible_if) goes with them
    function syncHidden() {
      var first = null;
      list.querySelectorAll("[role=tab]").forEach(function (tab) {
        var panel = document.getElementById(tab.getAttribute("aria-controls"));
        var sections = panel ? panel.querySelectorAll("[data-ordo-section]") : [];
        var gone = sections.length > 0 && Array.prototype.every.call(sections, function (x) { return x.hidden; });
        if (tab.hidden !== gone) { tab.hidden = gone; }
        if (!tab.hidden && !first) { first = tab; }
      });
      var current = list.querySelector("[aria-selected=true]");
      if (first && current && current.hidden) { selectTab(first, false); }
    }
    if (window.MutationObserver) {
      new MutationObserver(function (records) {
        if (records.some(function (r) { return r.target.hasAttribute("data-ordo-section"); })) { syncHidden(); }
      }).observe(set, {attributes: true, attributeFilter: ["hidden"], subtree: true});
    }
    list.addEventListener("click", function (ev) {
      var tab = closest(ev.target, "[role=tab]");
      if (tab) { selectTab(tab, false); }
    });
    list.addEventListener("keydown", function (ev) {
      var tabs = Array.prototype.filter.call(list.querySelectorAll("[role=tab]"), function (t) { return !t.hidden; });
      var i = tabs.indexOf(document.activeElement);
      if (i < 0) { return; }
      var next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1}[ev.key];
      if (next === undefined) { return; }
      ev.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length], true);
    });
  });
  document.addEventListener("click", function (ev) {  // the error list's links to fields on another tab
    var a = closest(ev.target, "a[href^='#f-']");
    var target = a && document.getElementById(a.getAttribute("href").slice(1));
    if (target) { showTabOf(target); }
  });
  document.addEventListener("invalid", function (ev) { showTabOf(ev.target); markTabs(); }, true);
  document.addEventListener("change", markTabs);
})();
