// The owner's share dialog and links: show the dialog htmx brought as a modal and drop it once
// closed, copy a link (also where the Clipboard API is missing: plain http on a home network),
// send the browser's time zone with the form, and show a link's times in the reader's own zone.
(function () {
  "use strict";

  function openDialogs(root) {
    root.querySelectorAll("dialog[data-share-dialog]:not([open])").forEach(function (dialog) {
      // One dialog at a time: a second click on Share while one is on its way brings a second.
      document.querySelectorAll("dialog[data-share-dialog][open]").forEach(function (old) { old.remove(); });
      dialog.showModal();
    });
  }

  function prepare(root) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* UTC then */ }
    root.querySelectorAll(".share-form input[name=share-tz]").forEach(function (input) { input.value = zone; });
    var format = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
      {dateStyle: "medium", timeStyle: "short"});
    root.querySelectorAll("time[data-local-time]").forEach(function (time) {
      var when = new Date(time.getAttribute("datetime"));
      time.removeAttribute("data-local-time");  // once: the UTC text becomes the title
      if (!isNaN(when)) { time.title = time.textContent; time.textContent = format.format(when); }
    });
  }

  // A panel swapped into the open dialog (the form with its errors, the finished link) takes the
  // focus to its first field with an error, else to what it marks autofocus.
  function focusPanel(panel) {
    if (!panel.closest("dialog[open]")) return;
    var target = panel.querySelector("[aria-invalid=true], [autofocus]");
    if (target) target.focus();
  }

  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    prepare(elt.parentNode || document);
    openDialogs(elt.parentNode || document);
    if (elt.id === "share-panel") focusPanel(elt);
  });
  document.addEventListener("DOMContentLoaded", function () { prepare(document); });

  // "close" does not bubble; caught on the way down. Escape closes a modal dialog by itself.
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("dialog[data-share-dialog]")) event.target.remove();
  }, true);

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); return; }
    var copy = event.target.closest("[data-share-copy]");
    if (copy) copyLink(copy);
  });

  function copyLink(button) {
    var text = button.dataset.shareCopy;
    var done = function () {
      var label = button.textContent;
      button.textContent = button.dataset.copied;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { if (copyBySelection(text)) done(); });
    } else if (copyBySelection(text)) {
      done();
    }
  }

  // The old way, which works on any origin: select the text in a field and copy the selection.
  function copyBySelection(text) {
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.className = "visually-hidden";
    (document.querySelector("dialog[open]") || document.body).appendChild(field);
    field.select();
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    field.remove();
    return copied;
  }

  // A history snapshot must not keep an open dialog: going back would show it again, half alive.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("dialog[data-share-dialog]").forEach(function (dialog) { dialog.remove(); });
  });
})();
