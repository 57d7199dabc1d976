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

  // The session ended (logout, expiry, a new token): nothing more can be fetched or heard.
  var ended = false;
  var pending = new Map();
  function refresh(el) {
    if (ended || pending.has(el)) return;
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

  // What the page shows stays (it is what the reader was looking at); the indicator says it
  // no longer follows, and leads back here after the sign-in. Nothing retries: only a new
  // sign-in can help, and each refused attempt would wait out the daemon's failure delay.
  var socket = null;
  function signedOut() {
    if (ended) return;
    ended = true;
    pending.forEach(function (t) {
      clearTimeout(t);
    });
    pending.clear();
    if (socket) socket.close();
    indicator = indicator || document.getElementById("live");
    if (!indicator) return;
    indicator.dataset.state = "signed-out";
    indicator.textContent = "";
    var link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "signed out — sign in again";
    indicator.appendChild(link);
  }

  // A close without the session-ended code may still be a refused upgrade (browsers show it
  // as 1006, with no status): the daemon answers an API request 401 when the session is
  // gone, and not at all while it restarts.
  function sessionGone(then) {
    fetch("/api/status", { method: "HEAD", credentials: "same-origin", cache: "no-store" }).then(
      function (res) {
        then(res.status === 401);
      },
      function () {
        then(false);
      },
    );
  }

  var delay = 1000;
  function connect() {
    if (ended) return;
    var cert = document.body.getAttribute("data-live-cert");
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/events" + (cert ? "?cert=" + encodeURIComponent(cert) : "");
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return retry();
    }
    socket = ws;
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
    ws.onclose = function (ev) {
      socket = null;
      if (ended) return;
      // 4401: the session (or the token) that opened the stream ended (docs/api.md, close codes).
      if (ev.code === 4401) return signedOut();
      show("reconnecting");
      sessionGone(function (gone) {
        if (gone) signedOut();
        else retry();
      });
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
  // A refresh after the session ended is answered 401 (API) or 303 to the sign-in form, which
  // fetch follows: swapping that in would empty the section while the indicator says "live".
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var xhr = ev.detail.xhr;
    var path = "";
    try {
      path = new URL(xhr.responseURL).pathname;
    } catch (e) {}
    if (xhr.status === 401 || path === "/login") {
      ev.detail.shouldSwap = false;
      signedOut();
    }
  });
  document.addEventListener("htmx:afterSettle", function (ev) {
    localTimes(ev.target);
  });
})();
