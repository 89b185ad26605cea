/* Live job admin, no framework:
   - progress: polls the staff-only live-progress view every 1.5 s and updates every bar and
     badge of a job that is still queued or processing (on the list and the detail page);
   - new rows (the list's first page, newest first, where the page carries ef-live-rows-url):
     polls the staff-only live-rows view every 2 s with the list's own query string (filters,
     search, ordering) and the created_at of the newest row shown, and prepends the rows it
     answers, rendered server-side by Django admin's own row rendering. */
(function () {
  "use strict";
  var INTERVAL_MS = 1500;
  var ROWS_INTERVAL_MS = 2000;
  var TERMINAL = { completed: true, failed: true, cancelled: true };

  function meta(name) {
    return document.querySelector('meta[name="' + name + '"]');
  }

  // --- progress of running jobs ------------------------------------------------------------------
  function watchedIds() {
    var ids = {};
    document.querySelectorAll(".ef-progress[data-ef-job]").forEach(function (el) {
      if (!TERMINAL[el.getAttribute("data-ef-state")]) ids[el.getAttribute("data-ef-job")] = true;
    });
    return Object.keys(ids);
  }

  function setStatusClass(el, status) {
    el.className = el.className.replace(/\bef-status-\S+/g, "").trim() + " ef-status-" + status;
  }

  function apply(id, info) {
    document.querySelectorAll('.ef-progress[data-ef-job="' + id + '"]').forEach(function (bar) {
      bar.setAttribute("data-ef-state", info.status);
      var fill = bar.querySelector(".ef-progress-fill");
      if (fill) {
        fill.style.width = Math.max(0, Math.min(100, info.progress)) + "%";
        setStatusClass(fill, info.status);
      }
      var text = bar.querySelector(".ef-progress-text");
      if (text) {
        text.textContent = info.text;
        text.title = info.text;
      }
    });
    document.querySelectorAll('[data-ef-status="' + id + '"]').forEach(function (badge) {
      badge.textContent = info.status_label;
      setStatusClass(badge, info.status);
    });
  }

  function pollProgress() {
    var el = meta("ef-live-progress-url");
    if (!el) return;
    var ids = watchedIds();
    // Nothing running right now: look again later (a new row may bring a running job).
    if (ids.length === 0 || document.hidden) {
      setTimeout(pollProgress, INTERVAL_MS);
      return;
    }
    fetch(el.getAttribute("content") + "?ids=" + encodeURIComponent(ids.join(",")), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) Object.keys(data).forEach(function (id) { apply(id, data[id]); });
      })
      .catch(function () { /* a missed poll is retried on the next tick */ })
      .then(function () { setTimeout(pollProgress, INTERVAL_MS); });
  }

  // --- new rows on the list ----------------------------------------------------------------------
  var added = 0;   // rows prepended since the page loaded
  var missed = 0;  // newer rows beyond one page in a single poll: a reload shows them

  function notice(text) {
    var el = document.getElementById("ef-new-rows");
    if (!el) {
      var results = document.querySelector("#changelist .results");
      if (!results) return;
      el = document.createElement("p");
      el.id = "ef-new-rows";
      el.className = "ef-new-rows";
      results.parentNode.insertBefore(el, results);
    }
    el.textContent = text;
  }

  // Django's actions.js counts the checkboxes it found at load; count the new ones too.
  function syncSelection() {
    var boxes = document.querySelectorAll("#result_list tr input.action-select");
    var counter = document.querySelector("span.action-counter");
    if (!counter || boxes.length === 0) return;
    var selected = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
    var total = Number(counter.dataset.actionsIcnt);
    counter.textContent = window.interpolate && window.ngettext
      ? interpolate(ngettext("%(sel)s of %(cnt)s selected", "%(sel)s of %(cnt)s selected", selected),
                    { sel: selected, cnt: total }, true)
      : selected + " of " + total + " selected";
    var toggle = document.getElementById("action-toggle");
    if (toggle) toggle.checked = selected === boxes.length;
  }

  // The paginator's "N jobs" under the table, when it is an exact count: "10,000+ jobs" and
  // "about 1,000,000 jobs" (jobs/admin_list.py) stay as they are.
  function bumpCount(by) {
    var count = document.querySelector('#changelist .paginator .ef-result-count[data-count-kind="exact"]');
    if (!count || !by) return;
    count.textContent = count.textContent.replace(/([\d,]+)(\s+jobs?\b)/, function (_, n) {
      var total = Number(n.replace(/,/g, "")) + by;
      return total.toLocaleString("en-US") + (total === 1 ? " job" : " jobs");
    });
  }

  function prepend(rows) {
    var table = document.getElementById("result_list");
    if (!table) {
      // The list was empty, so the page has no table to add to: show it with its first rows.
      window.location.reload();
      return false;
    }
    var body = table.tBodies[0];
    var inserted = 0;
    for (var i = rows.length - 1; i >= 0; i--) {  // rows come newest first
      if (body.querySelector('input.action-select[value="' + rows[i].id + '"]')) continue;
      body.insertAdjacentHTML("afterbegin", rows[i].html);
      inserted += 1;
    }
    added += inserted;
    bumpCount(inserted);
    var counter = document.querySelector("span.action-counter");
    if (counter) counter.dataset.actionsIcnt = Number(counter.dataset.actionsIcnt) + inserted;
    syncSelection();
    return true;
  }

  function pollRows(after) {
    var el = meta("ef-live-rows-url");
    if (!el) return;
    if (document.hidden) {
      setTimeout(function () { pollRows(after); }, ROWS_INTERVAL_MS);
      return;
    }
    var params = new URLSearchParams(window.location.search);
    params.set("ef_after", after);
    var next = after;
    var stop = false;
    fetch(el.getAttribute("content") + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) {
        if (r.status >= 400 && r.status < 500) stop = true;  // not a list we can follow
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data) return;
        if (data.rows.length && !prepend(data.rows)) { stop = true; return; }
        next = data.newest;
        missed += data.more;
        if (added || missed) {
          var text = added + " new job" + (added === 1 ? "" : "s") + " since the page loaded";
          if (missed) text += "; " + missed + " more: reload to see them";
          notice(text + ".");
        }
      })
      .catch(function () { /* a missed poll is retried on the next tick */ })
      .then(function () {
        if (!stop) setTimeout(function () { pollRows(next); }, ROWS_INTERVAL_MS);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setTimeout(pollProgress, INTERVAL_MS);
    var rows = meta("ef-live-rows-url");
    if (rows) {
      var after = rows.getAttribute("data-ef-after");
      setTimeout(function () { pollRows(after); }, ROWS_INTERVAL_MS);
      var toggle = document.getElementById("action-toggle");
      if (toggle) {
        // Select-all covers the new rows too; Django's handler (added first) does the others.
        toggle.addEventListener("click", function () {
          document.querySelectorAll("#result_list tr.ef-new-row input.action-select")
            .forEach(function (box) {
              box.checked = toggle.checked;
              box.closest("tr").classList.toggle("selected", toggle.checked);
            });
          syncSelection();
        });
      }
      document.addEventListener("change", function (event) {
        if (event.target.classList && event.target.classList.contains("action-select")) {
          syncSelection();
        }
      });
    }
  });
})();
