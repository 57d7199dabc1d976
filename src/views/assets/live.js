// rota dashboard: live updates over the daemon's event stream, and times in the reader's locale.
// Regions that follow events carry data-live="<cert id>" (or "*" for any cert) and an
// hx-get with hx-trigger="live": an event for their cert re-fetches them. No polling.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.title = el.getAttribute("datetime").replace("T", " ").replace(/\.\d+Z$/, "Z") + " (UTC)";
      el.textContent = el.dataset.format === "date" ? d.toLocaleDateString() : d.toLocaleString();
      el.dataset.local = "1";
    });
  }

  var pending = new Map();
  function refresh(el) {
    if (pending.has(el)) return;
    // Several events in a burst (a renewal's steps) make one fetch.
    pending.set(el, setTimeout(function () {
      pending.delete(el);
      if (window.htmx && document.body.contains(el)) window.htmx.trigger(el, "live");
    }, 200));
  }

  function refreshFor(certId) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var want = el.getAttribute("data-live");
      if (want === "*" || certId === null || want === certId) refresh(el);
    });
  }

  var indicator = null;
  function show(state) {
    indicator = indicator || document.getElementById("live");
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = state === "live" ? "live" : state === "reconnecting" ? "reconnecting…" : "offline";
  }

  var delay = 1000;
  function connect() {
    var cert = document.body.getAttribute("data-live-cert");
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/events" + (cert ? "?cert=" + encodeURIComponent(cert) : "");
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return retry();
    }
    ws.onopen = function () {
      delay = 1000;
      show("live");
      // Whatever happened since the page was rendered (or while we were away) sent no event
      // we could hear: look again once, then follow the events.
      refreshFor(null);
    };
    ws.onmessage = function (m) {
      var e;
      try {
        e = JSON.parse(m.data);
      } catch (err) {
        return;
      }
      if (e.type === "renewal.step_started") return;
      refreshFor(e.cert_id || null);
    };
    ws.onclose = function () {
      show("reconnecting");
      retry();
    };
  }
  function retry() {
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    if (document.querySelector("[data-live]")) connect();
  });
  document.addEventListener("htmx:afterSettle", function (ev) {
    localTimes(ev.target);
  });
})();
