// Berth UI: small enhancements over server-rendered pages, which work
// without this script. No inline script or style anywhere (CSP).
"use strict";
(function () {
  // Filter as you type: fetch the same page with the form's values and
  // swap in its results, keeping the address in sync.
  var timer, seq = 0;
  function live(form) {
    var url = new URL(form.getAttribute("action") || location.pathname, location.href);
    new FormData(form).forEach(function (v, k) { if (v !== "") url.searchParams.set(k, v); });
    var mine = ++seq;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("results"), old = document.getElementById("results");
        if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
        history.replaceState(null, "", url);
        selected = -1;
      });
  }
  document.querySelectorAll("[data-live]").forEach(function (el) {
    var form = el.form;
    el.addEventListener(el.tagName === "SELECT" ? "change" : "input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { live(form); }, 150);
    });
  });

  // Copy buttons: shown only when the script runs.
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var text = b.getAttribute("data-copy");
      function done(ok) {
        b.textContent = ok ? "Copied" : "Select and copy";
        b.setAttribute("data-copied", ok ? "yes" : "no");
        setTimeout(function () { b.textContent = "Copy"; }, 2000);
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(text)); });
      } else {
        done(fallback(text));
      }
    });
  });
  function fallback(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "vh";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  // Confirm before deleting.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // Keyboard: / filter, s search, j/k move between rows, Enter opens.
  var selected = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-row]")); }
  function select(i) {
    var rs = rows();
    if (!rs.length) return;
    i = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r) { r.classList.remove("sel"); });
    rs[i].classList.add("sel");
    var a = rs[i].querySelector("a");
    if (a) a.focus();
    selected = i;
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA") {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.key === "/") {
      var f = document.querySelector("[data-live]") || document.getElementById("global-search");
      if (f) { e.preventDefault(); f.focus(); f.select && f.select(); }
    } else if (e.key === "s") {
      e.preventDefault();
      document.getElementById("global-search").focus();
    } else if (e.key === "j") {
      select(selected + 1);
    } else if (e.key === "k") {
      select(selected - 1);
    }
  });
})();
