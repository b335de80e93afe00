// The gallery and album grids: selecting (click, shift-click, all), acting on the selection,
// keyboard moves, drag-and-drop ordering in albums; arrow keys on a photo's page.
// Everything here is an enhancement: without script, the checkboxes and buttons submit a plain form.
(function () {
  "use strict";

  var lastClicked = null;  // the tile a shift-click extends from
  // Right-to-left pages (Arabic) run the grid and the photo pager from right to left: ArrowLeft is "next".
  function forward() { return document.documentElement.dir === "rtl" ? -1 : 1; }

  function grid() { return document.getElementById("library-grid"); }
  function form() { return document.getElementById("selection-form"); }
  function tiles() { var g = grid(); return g ? Array.from(g.querySelectorAll(".tile")) : []; }
  function boxOf(tile) { return tile.querySelector('input[name="ids"]'); }
  function selected() { return tiles().filter(function (t) { return boxOf(t).checked; }); }

  function refresh() {
    var f = form();
    if (!f) return;
    var chosen = selected(), count = f.querySelector(".selection-count");
    f.classList.toggle("selecting", chosen.length > 0);
    tiles().forEach(function (t) { t.classList.toggle("tile-selected", boxOf(t).checked); });
    if (count) {
      count.textContent = !chosen.length ? "" :
        chosen.length === 1 ? count.dataset.one : count.dataset.many.replace("{n}", chosen.length);
    }
    var cover = f.querySelector("[data-cover]");
    if (cover) {
      cover.disabled = chosen.length !== 1;
      cover.value = chosen.length === 1 ? chosen[0].dataset.id : "";
    }
  }

  function setRange(from, to, checked) {
    var all = tiles(), a = all.indexOf(from), b = all.indexOf(to);
    if (a < 0 || b < 0) return;
    all.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (t) { boxOf(t).checked = checked; });
  }

  // Caught on the way down (capture), before htmx's boosted link sees the click: a click that
  // selects must not also open the photo.
  document.addEventListener("click", function (event) {
    var tile = event.target.closest && event.target.closest("#library-grid .tile");
    if (!tile) return;
    var onBox = event.target.closest(".tile-check");
    var selecting = form() && form().classList.contains("selecting");
    // Once something is selected, a click anywhere on a tile selects (as photo apps do).
    if (!(onBox || selecting || event.shiftKey)) return;
    var box = boxOf(tile);
    if (event.target !== box) {
      event.preventDefault();
      event.stopPropagation();
    }
    var checked = event.target === box ? box.checked : !box.checked;
    if (event.shiftKey && lastClicked && lastClicked !== tile) setRange(lastClicked, tile, checked);
    else box.checked = checked;
    lastClicked = tile;
    refresh();
  }, true);

  document.addEventListener("click", function (event) {
    var choose = event.target.closest("[data-select]");
    if (choose) {
      var all = choose.dataset.select === "page";
      tiles().forEach(function (t) { boxOf(t).checked = all; });
      lastClicked = null;
      refresh();
    }
  });

  // Delete asks first, saying how many.
  document.addEventListener("htmx:confirm", function (event) {
    var button = event.detail.elt;
    if (!button.matches || !button.matches("[data-delete]")) return;
    var n = selected().length, f = form();
    event.preventDefault();
    if (!n) return;
    var question = n === 1 ? f.dataset.confirmOne : f.dataset.confirmMany.replace("{n}", n);
    if (window.confirm(question)) event.detail.issueRequest(true);
  });

  // Done on the server: update the tiles in place rather than reloading the page.
  document.addEventListener("shoebox:selection-done", function (event) {
    var detail = event.detail || {}, ids = new Set(detail.ids || []);
    tiles().forEach(function (t) {
      if (!ids.has(t.dataset.id)) return;
      if (detail.action === "delete" || detail.action === "remove") t.remove();
      else if (detail.action === "public" || detail.action === "private") {
        t.classList.toggle("tile-public", detail.action === "public");
        var badge = t.querySelector(".tile-badge");
        if (badge) badge.hidden = detail.action !== "public";
      }
      boxOf(t).checked = false;
    });
    refresh();
  });

  // The toolbar sends only what differs from the defaults, so URLs stay short and readable.
  var ASCENDING_BY_DEFAULT = {name: true, album: true};
  document.addEventListener("htmx:configRequest", function (event) {
    var toolbar = event.detail.elt;
    if (!toolbar.matches || !toolbar.matches(".library-toolbar")) return;
    var params = event.detail.parameters;
    var sort = params.sort || toolbar.dataset.defaultSort;
    if (params.order === (ASCENDING_BY_DEFAULT[sort] ? "asc" : "desc")) delete params.order;
    if (params.sort === toolbar.dataset.defaultSort) delete params.sort;
    Object.keys(params).forEach(function (key) { if (params[key] === "") delete params[key]; });
  });

  // Keyboard: arrows move between tiles, Enter opens (a link), Space selects, Delete deletes the
  // selection, Escape clears it. On a photo's page, the arrows go to the previous and next photo.
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    var tile = event.target.closest && event.target.closest("#library-grid .tile");
    if (event.key === "Escape" && selected().length) {
      tiles().forEach(function (t) { boxOf(t).checked = false; });
      refresh();
      return;
    }
    if (event.key === "Delete" && selected().length) {
      var del = form().querySelector("[data-delete]");
      if (del) { event.preventDefault(); del.click(); }
      return;
    }
    if (tile && event.key === " ") {
      event.preventDefault();
      boxOf(tile).checked = !boxOf(tile).checked;
      lastClicked = tile;
      refresh();
      return;
    }
    var step = {ArrowLeft: -forward(), ArrowRight: forward(), ArrowUp: "up", ArrowDown: "down"}[event.key];
    if (step === undefined) return;
    if (tile) {
      event.preventDefault();
      moveFocus(tile, step);
    } else if (!grid() && (step === -1 || step === 1)) {
      var link = document.querySelector(step === -1 ? "a[rel=prev]" : "a[rel=next]");
      if (link) { event.preventDefault(); link.click(); }
    }
  });

  function moveFocus(tile, step) {
    var all = tiles(), index = all.indexOf(tile);
    if (step === "up" || step === "down") {
      var columns = all.filter(function (t) { return t.offsetTop === all[0].offsetTop; }).length || 1;
      step = step === "up" ? -columns : columns;
    }
    var next = all[Math.max(0, Math.min(all.length - 1, index + step))];
    if (next) next.querySelector(".tile-link").focus();
  }

  // Albums in their own order: drag a tile onto another to put it there. One request per move.
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var tile = event.target.closest && event.target.closest("#library-grid[data-reorder] .tile");
    if (!tile) return;
    dragged = tile;
    tile.classList.add("tile-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", tile.dataset.id);
  });
  document.addEventListener("dragover", function (event) {
    var over = dragged && event.target.closest && event.target.closest("#library-grid .tile");
    if (!over || over === dragged) return;
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var before = (event.clientX - (box.left + box.width / 2)) * forward() < 0;
    over.parentNode.insertBefore(dragged, before ? over : over.nextSibling);
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var tile = dragged, g = grid();
    dragged = null;
    tile.classList.remove("tile-dragging");
    var previous = tile.previousElementSibling;
    var body = new URLSearchParams({media_id: tile.dataset.id, after: previous ? previous.dataset.id : ""});
    var token = document.getElementById("csrf-token");
    fetch(g.dataset.reorder, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": token ? token.dataset.token : "", "HX-Request": "true"}
    }).then(function (response) {
      if (!response.ok) window.location.reload();  // show the order the server kept
    });
  });

  // Back and forward restore a snapshot taken before the last change was answered; the toolbar
  // then shows what the URL says, not what was being typed when the snapshot was taken.
  document.addEventListener("htmx:historyRestore", function () {
    var toolbar = document.querySelector(".library-toolbar");
    if (!toolbar) return;
    var params = new URLSearchParams(window.location.search);
    toolbar.querySelectorAll("input[name], select[name]").forEach(function (control) {
      var value = params.get(control.name);
      if (control.tagName === "SELECT") {
        control.value = value || (control.name === "sort" ? toolbar.dataset.defaultSort : "");
        if (control.name === "order" && !value) control.value = ASCENDING_BY_DEFAULT[params.get("sort") || toolbar.dataset.defaultSort] ? "asc" : "desc";
        if (control.selectedIndex < 0) control.selectedIndex = 0;
      } else {
        control.value = value || "";
      }
    });
    refresh();
  });

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:load", refresh);
})();
