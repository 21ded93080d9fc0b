// Countdowns to the next escalation and incident ages tick every second; htmx replaces the
// rows every few seconds and this keeps ticking over whatever is on the page.
(function () {
  "use strict";
  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)), ss = String(r).padStart(2, "0");
    return (h ? h + ":" : "") + mm + ":" + ss;
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = (Date.parse(el.dataset.deadline) - now) / 1000;
      el.textContent = left > 0 ? clock(left) : "0:00";
      el.classList.toggle("due", left <= 60);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = clock((now - Date.parse(el.dataset.since)) / 1000);
    });
  }
  tick();
  setInterval(tick, 1000);
  // Fresh rows show the server's words ("14 minutes") until ticked: tick them at once.
  document.addEventListener("htmx:afterSettle", tick);
})();
