// Shoebox page behaviour that htmx does not cover: theme switch, dismissable flashes.
(function () {
  "use strict";

  function currentTheme() {
    var set = document.documentElement.dataset.theme;
    if (set) return set;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("#theme-toggle")) {
      var next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      try { localStorage.setItem("shoebox-theme", next); } catch (e) { /* not saved; fine */ }
      return;
    }
    var close = event.target.closest(".flash-close");
    if (close) { close.closest(".flash").remove(); return; }
    var copy = event.target.closest("[data-copy]");
    if (copy) copyText(copy);
  });

  function copyText(button) {
    var source = document.querySelector(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    var text = source.matches("input, textarea") ? source.value :
      source.matches("ul, ol") ?
      Array.from(source.querySelectorAll("li")).map(function (li) { return li.textContent.trim(); }).join("\n") :
      source.textContent.trim();
    navigator.clipboard.writeText(text).then(function () {
      var label = button.textContent;
      button.textContent = button.dataset.copied || "✓";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  }

  // The CSRF token of the page as it is now (it changes at login); hx-headers on <body> is not
  // refreshed by boosted navigation.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.getElementById("csrf-token");
    if (token) event.detail.headers["X-CSRFToken"] = token.dataset.token;
  });

  // Boosted navigation swaps the body only. A page in another language (the account's, once logged in;
  // the browser's, once logged out) brings its own lang and dir (Arabic runs right to left) to <html>.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.boosted || !event.detail.shouldSwap) return;
    var tag = /<html\b[^>]*>/i.exec(event.detail.xhr.responseText || "");
    if (!tag) return;
    var lang = /\slang="([A-Za-z0-9-]+)"/.exec(tag[0]), dir = /\sdir="(rtl|ltr)"/.exec(tag[0]);
    if (lang) document.documentElement.lang = lang[1];
    if (dir) document.documentElement.dir = dir[1];
  });

  // Success and info messages leave by themselves; errors stay until dismissed.
  function fadeFlashes(root) {
    root.querySelectorAll(".flash-success, .flash-info").forEach(function (flash) {
      if (flash.dataset.timed) return;
      flash.dataset.timed = "1";
      setTimeout(function () { flash.remove(); }, 6000);
    });
  }
  // Gallery tiles show the photo's main colour until the thumbnail arrives (set through
  // CSSOM: our CSP forbids style attributes).
  function paintPlaceholders(root) {
    root.querySelectorAll("img[data-placeholder]").forEach(function (img) {
      if (/^#[0-9a-f]{6}$/i.test(img.dataset.placeholder)) img.style.backgroundColor = img.dataset.placeholder;
    });
  }

  // A history snapshot is HTML: styles set through CSSOM would come back as style attributes,
  // which the CSP refuses. Leave them out of the snapshot; paint placeholders again after a restore.
  document.addEventListener("htmx:beforeHistorySave", function () {
    var styled = Array.from(document.querySelectorAll("[style]")).map(function (element) {
      var style = element.getAttribute("style");
      element.removeAttribute("style");
      return [element, style];
    });
    // The snapshot is taken right after this event; the page that stays keeps its looks.
    // Put back through CSSOM, which the CSP allows (setAttribute would not be).
    setTimeout(function () { styled.forEach(function (pair) { pair[0].style.cssText = pair[1]; }); }, 0);
  });
  document.addEventListener("htmx:historyRestore", function () { paintPlaceholders(document); });

  document.addEventListener("DOMContentLoaded", function () { fadeFlashes(document); paintPlaceholders(document); });
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt.parentNode || document;
    fadeFlashes(root);
    paintPlaceholders(root);
  });
})();
