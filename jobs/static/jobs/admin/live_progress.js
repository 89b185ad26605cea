/* Live progress for the job admin: polls the staff-only live-progress view every 1.5 s and
   updates every bar and badge of a job that is still queued or processing. No framework. */
(function () {
  "use strict";
  var INTERVAL_MS = 1500;
  var TERMINAL = { completed: true, failed: true, cancelled: true };

  function liveUrl() {
    var meta = document.querySelector('meta[name="ef-live-progress-url"]');
    return meta ? meta.getAttribute("content") : null;
  }

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
      if (text) text.textContent = info.text;
    });
    document.querySelectorAll('[data-ef-status="' + id + '"]').forEach(function (badge) {
      badge.textContent = info.status_label;
      setStatusClass(badge, info.status);
    });
  }

  function poll() {
    var url = liveUrl();
    var ids = watchedIds();
    if (!url || ids.length === 0) return;  // nothing running on this page: stop polling
    fetch(url + "?ids=" + encodeURIComponent(ids.join(",")), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) Object.keys(data).forEach(function (id) { apply(id, data[id]); });
      })
      .catch(function () { /* a missed poll is retried on the next tick */ })
      .then(function () { setTimeout(poll, INTERVAL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () { setTimeout(poll, INTERVAL_MS); });
})();
