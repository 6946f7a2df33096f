// The station page's live panel: server-sent events from /station/events
// replace the panel's content at every change of the station; while they
// do not get through, /station/panel is asked once a second. Either one
// answering 401, or the stream's "signin" event, means the session ended:
// the whole page goes to the sign-in, never the sign-in form inside the
// panel. Also counts the confirm window down between changes.
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  if (!panel) {
    return;
  }
  var deadline = 0; // performance.now() at the end of the confirm window; 0: none

  function startCountdown() {
    var el = panel.querySelector("[data-remaining-ms]");
    deadline = el ? performance.now() + Number(el.getAttribute("data-remaining-ms")) : 0;
  }

  function tick() {
    var secs = panel.querySelector(".st-secs");
    if (!deadline || !secs) {
      return;
    }
    var left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
    var text = left + " s";
    if (secs.textContent !== text) {
      secs.textContent = text;
    }
  }

  function swap(html) {
    panel.innerHTML = html;
    startCountdown();
  }

  function signIn() {
    window.location.assign("/signin");
  }

  var poller = 0;
  function poll() {
    fetch("/station/panel", { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) {
        signIn();
      } else if (r.ok) {
        return r.text().then(swap);
      }
    }).catch(function () { /* the station is unreachable: the next poll tries again */ });
  }
  // data-live says how the panel stays live, for whoever inspects the
  // page (and the browser tests): "events" or "poll".
  function startPolling() {
    panel.setAttribute("data-live", "poll");
    if (!poller) {
      poller = window.setInterval(poll, 1000);
    }
  }

  // The simulated panel's button is pressed without leaving the page:
  // the kiosk has no menu to come back by, and the stream shows the result.
  panel.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.getAttribute("action") !== "/station/button") {
      return;
    }
    e.preventDefault();
    fetch(form.action, { method: "POST", credentials: "same-origin", redirect: "manual" }).then(function (r) {
      if (r.status === 401) {
        signIn();
      }
    }).catch(function () { /* the stream or the poll says what the station does */ });
  });

  startCountdown();
  window.setInterval(tick, 250);
  if (!window.EventSource) {
    startPolling();
    return;
  }
  var events = new EventSource("/station/events");
  events.addEventListener("panel", function (e) { swap(e.data); });
  events.addEventListener("signin", function () {
    events.close();
    signIn();
  });
  events.onopen = function () {
    panel.setAttribute("data-live", "events");
    window.clearInterval(poller);
    poller = 0;
  };
  events.onerror = function () {
    // The browser reconnects by itself unless the server refused the
    // stream; a poll says at once whether the session is gone.
    poll();
    if (events.readyState === EventSource.CLOSED) {
      startPolling();
    }
  };
})();
