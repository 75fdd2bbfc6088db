/* Review queue: keyboard shortcuts and the claim heartbeat.
 * Loaded as a file (the CSP is script-src 'self'); everything works without it, this only adds
 * speed. Shortcuts never fire while the agent types in a field, except the Ctrl/Meta combos. */
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function isTyping(element) {
    if (!element || !element.tagName) return false;
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  function click(selector) {
    var element = document.querySelector(selector);
    if (element && !element.disabled) {
      element.click();
      return true;
    }
    return false;
  }

  function openPanel(id, focusSelector) {
    var panel = document.getElementById(id);
    if (!panel) return false;
    panel.open = true;
    // Never a hidden input (the CSRF token comes first in every form): focusing it left the
    // agent typing into nothing while each letter fired a shortcut.
    var target = panel.querySelector(focusSelector + ":not([type=hidden]):not([disabled])");
    if (target) target.focus();
    return true;
  }

  function focusFirst(selector) {
    var element = document.querySelector(selector);
    if (!element) return false;
    element.focus();
    return true;
  }

  function moveRow(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("#queue-rows a.ticket-link"));
    if (!links.length) return false;
    var index = links.indexOf(document.activeElement);
    var next = index === -1 ? 0 : Math.min(links.length - 1, Math.max(0, index + step));
    links[next].focus();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var modifier = event.ctrlKey || event.metaKey;
    if (modifier && event.key === "Enter") {
      // Ctrl/Cmd+Enter submits the form being typed in; from the Reply field (or outside any
      // form) it is Approve & send.
      var form = event.target && event.target.form;
      var handled = false;
      if (form && form.id && form.id !== "approve-form") {
        var submit = form.querySelector("button[type=submit]");
        if (submit) { submit.click(); handled = true; }
      } else {
        handled = click("#approve");
      }
      if (handled) event.preventDefault();
      return;
    }
    if (modifier || event.altKey) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var handledKey = false;
    switch (event.key) {
      case "n": handledKey = click("#next-ticket"); break;
      case "a": handledKey = click("#approve"); break;
      case "r": handledKey = openPanel("reject-panel", "select"); break;
      case "o": handledKey = openPanel("override-panel", "select"); break;
      case "e": handledKey = openPanel("escalate-panel", "#escalate-note"); break;
      case "s": handledKey = openPanel("snooze-panel", "select"); break;
      case "c": handledKey = click("#claim"); break;
      case "/":
      case "f": handledKey = focusFirst("#queue-filters select"); break;
      case "j": handledKey = moveRow(1); break;
      case "k": handledKey = moveRow(-1); break;
      default: break;
    }
    if (handledKey) event.preventDefault();
  });

  // Heartbeat: keep the claim lease alive while this page is open; say so when it was lost.
  function startHeartbeat() {
    var holder = document.querySelector("[data-heartbeat-url]");
    if (!holder || !window.fetch) return;
    var url = holder.getAttribute("data-heartbeat-url");
    var seconds = parseInt(holder.getAttribute("data-heartbeat-seconds"), 10) || 60;
    var lost = false;
    function beat() {
      if (lost) return;
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      }).then(function (response) {
        if (response.status === 409 || response.status === 403) {
          lost = true;
          var banner = document.getElementById("claim-lost");
          if (banner) banner.hidden = false;
          var approve = document.getElementById("approve");
          if (approve) approve.disabled = true;
        }
      }).catch(function () { /* offline for a moment: the next beat tries again */ });
    }
    window.setInterval(beat, seconds * 1000);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") beat();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startHeartbeat);
  } else {
    startHeartbeat();
  }
})();
