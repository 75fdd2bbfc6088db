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
    if (modifier && (event.key === "m" || event.key === "M") && openMacroPicker(event.target)) {
      event.preventDefault();
      return;
    }
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
    if (document.querySelector("dialog[open]")) return;  // a dialog has the keyboard
    var handledKey = false;
    switch (event.key) {
      case "n": handledKey = click("#next-ticket"); break;
      case "a": handledKey = click("#approve"); break;
      case "r": handledKey = openPanel("reject-panel", "select"); break;
      case "o": handledKey = openPanel("override-panel", "select"); break;
      case "e": handledKey = openPanel("escalate-panel", "#escalate-note"); break;
      case "s": handledKey = openPanel("snooze-panel", "select"); break;
      case "c": handledKey = click("#claim"); break;
      case "/": handledKey = focusFirst("#f-search"); break;
      case "f": handledKey = focusFirst("#queue-filters select"); break;
      case "?": handledKey = openDialog("shortcuts-dialog"); break;
      case "x": handledKey = toggleRowSelection(); break;
      case "j": handledKey = moveRow(1); break;
      case "k": handledKey = moveRow(-1); break;
      default: break;
    }
    if (handledKey) event.preventDefault();
  });

  // --- Dialogs: the "?" cheat sheet, bulk selection, the macro picker (issue 14) ---------------

  function openDialog(id) {
    var dialog = document.getElementById(id);
    if (!dialog || !dialog.showModal || dialog.open) return false;
    dialog.showModal();  // focuses the first focusable element inside the dialog
    return true;
  }

  function toggleRowSelection() {
    var row = document.activeElement && document.activeElement.closest("#queue-rows tr");
    var box = row && row.querySelector("input[type=checkbox]");
    if (!box) return false;
    box.checked = !box.checked;
    return true;
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("#shortcuts-open")) openDialog("shortcuts-dialog");
  });

  // The queue refreshes itself every 30 s; not while the agent has rows selected for a bulk action.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (source && source.id === "queue-results" && document.querySelector("#queue-rows input[type=checkbox]:checked")) {
      event.preventDefault();
    }
  });

  var macros = null;  // [{id, name, text}], rendered by the server for this ticket and agent

  function loadMacros(picker) {
    if (macros !== null || !window.fetch) return;
    macros = [];
    fetch(picker.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { macros: [] }; })
      .then(function (data) { macros = data.macros || []; renderMacros(picker); })
      .catch(function () { macros = null; });
  }

  function renderMacros(picker) {
    var filter = picker.querySelector("#macro-filter").value.toLowerCase();
    var list = picker.querySelector("#macro-list");
    list.textContent = "";
    (macros || []).filter(function (macro) {
      return macro.name.toLowerCase().indexOf(filter) !== -1 || macro.text.toLowerCase().indexOf(filter) !== -1;
    }).forEach(function (macro, index) {
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", index === 0 ? "true" : "false");
      item.textContent = macro.name;
      item.title = macro.text;
      item.macroText = macro.text;
      item.addEventListener("click", function () { insertMacro(picker, item); });
      list.appendChild(item);
    });
    picker.querySelector("#macro-empty").hidden = list.children.length > 0;
  }

  function moveMacroSelection(picker, step) {
    var items = Array.prototype.slice.call(picker.querySelectorAll("#macro-list li"));
    if (!items.length) return;
    var index = items.findIndex(function (item) { return item.getAttribute("aria-selected") === "true"; });
    var next = Math.min(items.length - 1, Math.max(0, index + step));
    items.forEach(function (item, position) { item.setAttribute("aria-selected", position === next ? "true" : "false"); });
    items[next].scrollIntoView({ block: "nearest" });
  }

  function insertMacro(picker, item) {
    var target = document.getElementById(picker.getAttribute("data-target"));
    picker.close();
    if (!target || !item) return;
    var start = target.selectionStart, end = target.selectionEnd;
    target.value = target.value.slice(0, start) + item.macroText + target.value.slice(end);
    target.focus();
    target.selectionStart = target.selectionEnd = start + item.macroText.length;
    target.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function openMacroPicker(field) {
    var picker = document.getElementById("macro-picker");
    if (!picker || !field || field.id !== picker.getAttribute("data-target") || field.readOnly) return false;
    var filter = picker.querySelector("#macro-filter");
    filter.value = "";
    renderMacros(picker);
    loadMacros(picker);
    picker.showModal();
    filter.focus();
    return true;
  }

  function setUpMacroPicker() {
    var picker = document.getElementById("macro-picker");
    if (!picker) return;
    loadMacros(picker);
    var filter = picker.querySelector("#macro-filter");
    filter.addEventListener("input", function () { renderMacros(picker); });
    filter.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        moveMacroSelection(picker, event.key === "ArrowDown" ? 1 : -1);
        event.preventDefault();
      } else if (event.key === "Enter") {
        insertMacro(picker, picker.querySelector("#macro-list li[aria-selected=true]"));
        event.preventDefault();
      }
    });
    picker.addEventListener("close", function () {
      var target = document.getElementById(picker.getAttribute("data-target"));
      if (target && document.activeElement !== target) target.focus();
    });
  }

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

  function start() {
    startHeartbeat();
    setUpMacroPicker();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
