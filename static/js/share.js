// The pages a share link's recipient sees: the theme switch, the grid that loads as it scrolls, the
// full-screen viewer (swipe, arrow keys, Escape), guest uploads with progress, arrow keys on a
// photo's own page. Everything is an enhancement: without script, links and forms do the same work.
// Our CSP forbids inline styles: positions are set through CSSOM (element.style), which it allows.
(function () {
  "use strict";

  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  // Right-to-left pages (Arabic) go forward leftwards: the next photo comes from the left, ArrowLeft is "next".
  function forward() { return document.documentElement.dir === "rtl" ? -1 : 1; }

  // --- Light and dark -------------------------------------------------------------------------

  function currentTheme() {
    var set = document.documentElement.dataset.theme;
    if (set) return set;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#theme-toggle")) return;
    var next = currentTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("shoebox-theme", next); } catch (e) { /* not saved; fine */ }
  });

  // Tiles show the photo's main colour until the thumbnail arrives.
  function paintPlaceholders(root) {
    root.querySelectorAll("img[data-placeholder]").forEach(function (img) {
      if (/^#[0-9a-f]{6}$/i.test(img.dataset.placeholder)) img.style.backgroundColor = img.dataset.placeholder;
    });
  }

  // --- The grid: the next tiles when the marker at its end comes near --------------------------

  var watcher = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) { if (entry.isIntersecting) loadMore(entry.target); });
  }, { rootMargin: "0px 0px 1200px 0px" }) : null;

  function watchMarkers(root) {
    if (!watcher) return;
    root.querySelectorAll(".grid-more[data-more]").forEach(function (marker) { watcher.observe(marker); });
  }

  function nextMarker() { return document.querySelector("#recipient-grid .grid-more[data-more]"); }

  // Replaces the marker with the next page of tiles (and its own marker); one request per marker.
  function loadMore(marker) {
    if (marker.loading) return marker.loading;
    if (watcher) watcher.unobserve(marker);
    marker.classList.add("is-loading");
    marker.classList.remove("is-failed");
    marker.loading = fetch(marker.dataset.more, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;
        paintPlaceholders(template.content);
        var parent = marker.parentNode;
        marker.replaceWith(template.content);
        if (parent) watchMarkers(parent);
      })
      .catch(function () {
        // The link stays: a tap on it tries again (or, failing that, goes to the next page).
        marker.loading = null;
        marker.classList.remove("is-loading");
        marker.classList.add("is-failed");
      });
    return marker.loading;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest(".grid-more[data-more] a");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    var marker = link.closest(".grid-more");
    if (marker.classList.contains("is-failed") && marker.retried) return;  // let the browser go there
    event.preventDefault();
    marker.retried = marker.classList.contains("is-failed");
    loadMore(marker);
  });

  // --- The viewer: a modal dialog with three slides (previous, current, next) -------------------

  var GAP = 24;  // px between slides while swiping
  var dialog = document.getElementById("viewer");
  var viewer = dialog ? makeViewer(dialog) : null;

  function makeViewer(dialog) {
    var stage = dialog.querySelector(".viewer-stage");
    var strip = dialog.querySelector(".viewer-strip");
    var prevButton = dialog.querySelector("#viewer-prev");
    var nextButton = dialog.querySelector("#viewer-next");
    var download = dialog.querySelector("#viewer-download");
    var items = [], index = 0, pushedHistory = false, settling = null, drag = null;

    function slides() { return strip.children; }
    function hasMore() { return Boolean(nextMarker()); }
    function canGo(step) {
      var target = index + step;
      return target >= 0 && (target < items.length || (step > 0 && hasMore()));
    }

    function fill(slide, at) {
      slide.textContent = "";
      slide.classList.remove("is-loaded");
      var item = items[at];
      slide.dataset.index = item ? String(at) : "";
      if (!item) return;
      if (item.dataset.kind === "video") {  // played in place; a slide refilled or left stops it
        var video = document.createElement("video");
        video.className = "viewer-video";
        video.controls = true;
        video.preload = "metadata";
        video.playsInline = true;
        video.poster = item.dataset.poster;
        video.src = item.dataset.video;
        slide.append(video);
        slide.classList.add("is-loaded");
        return;
      }
      if (item.dataset.kind !== "image") {
        var card = document.createElement("div");
        card.className = "viewer-file";
        var ext = document.createElement("span");
        ext.className = "viewer-file-ext";
        ext.textContent = item.dataset.ext || dialog.dataset.file || "";
        var name = document.createElement("span");
        name.textContent = item.dataset.name || "";
        card.append(ext, name);
        slide.append(card);
        return;
      }
      var small = item.querySelector("img");
      if (small) {  // the tile's thumbnail, already loaded, holds the place of the big one
        var thumb = document.createElement("img");
        thumb.className = "viewer-thumb";
        thumb.alt = "";
        thumb.draggable = false;
        thumb.src = small.currentSrc || small.src;
        slide.append(thumb);
      }
      var image = document.createElement("img");
      image.className = "viewer-image";
      image.alt = item.dataset.name || "";
      image.draggable = false;
      image.decoding = "async";
      image.addEventListener("load", function () { slide.classList.add("is-loaded"); });
      setSources(image, item);
      slide.append(image);
    }

    function setSources(image, item) {
      if (item.dataset.srcset) {
        image.sizes = "100vw";
        image.srcset = item.dataset.srcset;
      }
      image.src = item.dataset.src;
    }

    // The photos two steps away start loading too, so a quick run of swipes never waits.
    function preloadBeyond() {
      [index + 2, index - 2].forEach(function (at) {
        var item = items[at];
        if (item && item.dataset.kind === "image") setSources(new Image(), item);
      });
    }

    function describe() {
      var item = items[index];
      var total = Math.max(Number(dialog.dataset.total) || 0, items.length);
      dialog.querySelector("#viewer-position").textContent = total > 1 ?
        dialog.dataset.position.replace("{n}", index + 1).replace("{total}", total) : "";
      dialog.querySelector("#viewer-name").textContent = item.dataset.name || "";
      dialog.querySelector("#viewer-facts").textContent = item.dataset.facts || "";
      if (download) download.href = dialog.dataset.base + "/p/" + item.dataset.viewer + "/original";
      dialog.classList.toggle("viewer-single", total <= 1);
      Array.prototype.forEach.call(strip.querySelectorAll("video"), function (video) {  // only the one in view plays
        if (video.parentNode !== slides()[1]) video.pause();
      });
      [[prevButton, -1], [nextButton, 1]].forEach(function (pair) {
        var off = !canGo(pair[1]);
        if (off && document.activeElement === pair[0]) dialog.focus();
        pair[0].disabled = off;
      });
    }

    function show() {
      Array.prototype.forEach.call(slides(), function (slide, n) { fill(slide, index - 1 + n); });
      setOffset(0, false);
      describe();
      preloadBeyond();
      nearTheEnd();
    }

    // Near the last loaded tile, the grid's next page is fetched, so swiping never stops early.
    function nearTheEnd() {
      var marker = nextMarker();
      if (!marker || index < items.length - 3) return;
      loadMore(marker).then(function () {
        if (!dialog.open) return;
        var current = items[index];
        items = collect();
        index = Math.max(0, items.indexOf(current));
        Array.prototype.forEach.call(slides(), function (slide, n) {
          if (slide.dataset.index === "" && items[index - 1 + n]) fill(slide, index - 1 + n);
        });
        describe();
        preloadBeyond();
      });
    }

    function setOffset(px, animate) {
      strip.classList.toggle("is-animating", Boolean(animate) && !reduceMotion.matches);
      strip.style.transform = "translate3d(" + px + "px, 0, 0)";
    }

    function finishSettling() {
      if (settling) { var done = settling; settling = null; done(); }
    }

    function afterMove(done) {
      if (!strip.classList.contains("is-animating")) { done(); return; }
      settling = done;
      var timer = setTimeout(finishSettling, 400);
      strip.addEventListener("transitionend", function end() {
        strip.removeEventListener("transitionend", end);
        clearTimeout(timer);
        finishSettling();
      });
    }

    function go(step) {
      finishSettling();
      if (!canGo(step)) { setOffset(0, true); return; }
      if (index + step >= items.length) { nearTheEnd(); setOffset(0, true); return; }  // still loading
      setOffset(-step * forward() * (stage.clientWidth + GAP), true);
      afterMove(function () {
        index += step;
        if (step > 0) {
          strip.append(strip.firstElementChild);
          fill(strip.lastElementChild, index + 1);
        } else {
          strip.prepend(strip.lastElementChild);
          fill(strip.firstElementChild, index - 1);
        }
        setOffset(0, false);
        describe();
        preloadBeyond();
        nearTheEnd();
      });
    }

    function collect() { return Array.from(document.querySelectorAll("a[data-viewer]")); }

    function open(item) {
      items = collect();
      index = Math.max(0, items.indexOf(item));
      dialog.classList.remove("viewer-bare");
      dialog.showModal();
      document.documentElement.classList.add("viewer-open");
      show();
      // Back (a phone's back gesture above all) closes the viewer instead of leaving the page.
      history.pushState({ shoeboxViewer: true }, "");
      pushedHistory = true;
    }

    dialog.addEventListener("close", function () {
      finishSettling();
      document.documentElement.classList.remove("viewer-open");
      var item = items[index];
      Array.prototype.forEach.call(slides(), function (slide) { slide.textContent = ""; });
      if (item) {
        item.focus({ preventScroll: true });
        item.scrollIntoView({ block: "nearest" });
      }
      if (pushedHistory) { pushedHistory = false; history.back(); }
    });
    window.addEventListener("popstate", function () {
      if (dialog.open) { pushedHistory = false; dialog.close(); }
    });

    dialog.querySelector("#viewer-close").addEventListener("click", function () { dialog.close(); });
    prevButton.addEventListener("click", function () { go(-1); });
    nextButton.addEventListener("click", function () { go(1); });
    dialog.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("video")) return;  // a video seeks
      if (event.key === "ArrowLeft") { event.preventDefault(); go(-forward()); }
      else if (event.key === "ArrowRight") { event.preventDefault(); go(forward()); }
    });

    // Swipes: the strip follows the finger; far or fast enough moves on, else it springs back.
    // touch-action (CSS) leaves vertical moves and pinch zoom to the browser.
    stage.addEventListener("pointerdown", function (event) {
      if (!event.isPrimary || (event.pointerType === "mouse" && event.button !== 0)) return;
      if (window.visualViewport && window.visualViewport.scale > 1.01) return;  // zoomed in: panning
      if (event.target.closest("video")) return;  // its own controls (seek bar, volume) take the pointer
      finishSettling();
      drag = { id: event.pointerId, x: event.clientX, y: event.clientY, t: event.timeStamp, dx: 0, moving: false };
    });
    stage.addEventListener("pointermove", function (event) {
      if (!drag || event.pointerId !== drag.id) return;
      var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (!drag.moving) {
        if (Math.abs(dx) < 8 && Math.abs(dy) < 8) return;
        if (Math.abs(dy) > Math.abs(dx)) { drag = null; return; }
        drag.moving = true;
        stage.setPointerCapture(event.pointerId);
      }
      if (!canGo(dx * forward() > 0 ? -1 : 1)) dx /= 3;  // resistance at either end
      drag.dx = dx;
      setOffset(dx, false);
    });
    stage.addEventListener("pointerup", function (event) {
      if (!drag || event.pointerId !== drag.id) return;
      var done = drag;
      drag = null;
      if (!done.moving) { dialog.classList.toggle("viewer-bare"); return; }  // a tap: photo alone, or not
      var speed = done.dx / Math.max(1, event.timeStamp - done.t);
      var far = Math.abs(done.dx) > stage.clientWidth * 0.2 || Math.abs(speed) > 0.5;
      var step = done.dx * forward() < 0 ? 1 : -1;
      if (far && canGo(step)) go(step);
      else setOffset(0, true);
    });
    stage.addEventListener("pointercancel", function () {
      if (drag) { drag = null; setOffset(0, true); }
    });

    return { open: open };
  }

  document.addEventListener("click", function (event) {
    var item = event.target.closest("a[data-viewer]");
    if (!item || !viewer || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    viewer.open(item);
  });

  // --- A photo's own page: arrow keys follow its Previous and Next links ------------------------

  document.addEventListener("keydown", function (event) {
    if (dialog || event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
    var rel = { ArrowLeft: forward() > 0 ? "prev" : "next", ArrowRight: forward() > 0 ? "next" : "prev" }[event.key];
    var link = rel && document.querySelector(".recipient-pager a[rel=" + rel + "]");
    if (link) location.href = link.href;
  });

  // --- The password field's Show button (a toggle: pressed while the password shows) -------------

  document.querySelectorAll("[data-reveal]").forEach(function (button) {
    var input = document.getElementById(button.dataset.reveal);
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var showing = input.type === "password";
      input.type = showing ? "text" : "password";
      button.setAttribute("aria-pressed", String(showing));
      input.focus();
    });
  });

  // --- Guest uploads: each file on its own request, with progress -------------------------------

  var uploadForm = document.getElementById("guest-upload-form");
  if (uploadForm) guestUploads(uploadForm);

  function guestUploads(form) {
    var text = form.dataset;
    var input = form.querySelector("#guest-file");
    var nameInput = form.querySelector("#guest-name");
    var list = form.querySelector("#guest-upload-list");
    var send = form.querySelector("#guest-upload-send");
    var done = form.querySelector("#guest-upload-done");
    var section = form.closest("#guest-upload");
    var queue = [], sending = false;

    var idleLabel = send.textContent;
    input.multiple = true;
    input.required = false;
    form.noValidate = true;  // said beside each field, in the page's words, instead of the browser's bubbles
    form.classList.add("guest-upload-ready");

    function problem(field, message) {
      var box = form.querySelector("#guest-" + field + "-error");
      box.hidden = !message;
      box.firstElementChild.textContent = message || "";
      var target = field === "name" ? nameInput : input;
      target.closest(".field").classList.toggle("field-invalid", Boolean(message));
      if (message) target.setAttribute("aria-invalid", "true");
      else target.removeAttribute("aria-invalid");
    }

    function waiting() { return queue.filter(function (entry) { return entry.state === "waiting"; }); }

    // The button says how many files it will send ("Upload 3 photos"), and "Sending…" while it does.
    function label() {
      var count = waiting().length;
      if (sending) send.textContent = text.sending;
      else if (count === 1) send.textContent = text.countOne;
      else if (count > 1) send.textContent = text.count.replace("{n}", count);
      else send.textContent = idleLabel;
      send.disabled = sending;
    }

    function add(files) {
      Array.from(files || []).forEach(function (file) {
        var row = document.createElement("li");
        row.className = "upload-row guest-upload-row";
        var preview = document.createElement("span");
        preview.className = "guest-upload-preview";
        if (/^image\//.test(file.type)) {
          var img = document.createElement("img");
          img.alt = "";
          img.src = URL.createObjectURL(file);
          img.addEventListener("load", function () { URL.revokeObjectURL(img.src); });
          img.addEventListener("error", function () { URL.revokeObjectURL(img.src); img.remove(); });
          preview.append(img);
        }
        var name = document.createElement("span");
        name.className = "upload-name";
        name.textContent = file.name;
        var status = document.createElement("span");
        status.className = "upload-status";
        status.textContent = text.waiting;
        var bar = document.createElement("progress");
        bar.max = 1;
        bar.value = 0;
        row.append(preview, name, status, bar);
        list.append(row);
        queue.push({ file: file, row: row, status: status, bar: bar, state: "waiting" });
      });
      done.hidden = true;
      problem("file", "");
      label();
    }

    input.addEventListener("change", function () { add(input.files); input.value = ""; });

    // Files dropped anywhere on the section join the list (and never open in place of the page).
    function carriesFiles(event) {
      return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0;
    }
    document.addEventListener("dragover", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      var inside = section.contains(event.target);
      event.dataTransfer.dropEffect = inside ? "copy" : "none";
      section.classList.toggle("is-dropping", inside);
    });
    document.addEventListener("dragleave", function (event) {
      if (!event.relatedTarget || !section.contains(event.relatedTarget)) section.classList.remove("is-dropping");
    });
    document.addEventListener("drop", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      section.classList.remove("is-dropping");
      if (section.contains(event.target)) add(event.dataTransfer.files);
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) return;
      var name = nameInput.value.trim();
      problem("name", name ? "" : text.nameMissing);
      if (!name) { nameInput.focus(); return; }
      if (!waiting().length) { problem("file", text.filesMissing); input.focus(); return; }
      sending = true;
      label();
      sendAll(name).then(function (added) {
        sending = false;
        label();
        if (added) refreshPhotos();
        var failed = queue.some(function (entry) { return entry.state === "failed"; });
        if (added && !failed && !waiting().length) { done.textContent = text.allDone; done.hidden = false; }
      });
    });

    // One after another: a phone on a slow line gets each photo in before the next starts.
    function sendAll(name) {
      var added = 0;
      function next() {
        var entry = waiting()[0];
        if (!entry) return Promise.resolve(added);
        return sendOne(entry, name).then(function (outcome) {
          if (outcome === true) added += 1;
          return outcome === "stop" ? added : next();
        });
      }
      return next();
    }

    function sendOne(entry, name) {
      return new Promise(function (resolve) {
        var body = new FormData();
        body.append("name", name);
        body.append("file", entry.file, entry.file.name);
        var request = new XMLHttpRequest();
        request.open("POST", form.action);
        request.setRequestHeader("X-CSRFToken", form.querySelector('input[name="csrf_token"]').value);
        request.setRequestHeader("Accept", "application/json");
        entry.state = "sending";
        entry.status.textContent = text.sending;
        entry.row.classList.add("upload-sending");
        request.upload.addEventListener("progress", function (event) {
          if (event.lengthComputable) entry.bar.value = event.loaded / event.total;
        });
        request.addEventListener("load", function () {
          entry.row.classList.remove("upload-sending");
          if (request.status === 201) {
            entry.state = "done";
            entry.bar.value = 1;
            entry.status.textContent = text.done;
            entry.row.classList.add("upload-ok");
            resolve(true);
            return;
          }
          var error = serverError(request);
          if (error.field === "name") {  // wrong for every file: back in the queue, said at the name
            entry.state = "waiting";
            entry.status.textContent = text.waiting;
            entry.bar.value = 0;
            problem("name", error.message);
            nameInput.focus();
            resolve("stop");
            return;
          }
          failed(entry, error.message || text.failed);
          resolve(false);
        });
        request.addEventListener("error", function () { failed(entry, text.offline); resolve(false); });
        request.send(body);
      });
    }

    function serverError(request) {
      try {
        var error = JSON.parse(request.responseText).error || {};
        return { message: error.message, field: error.field };
      } catch (e) {
        return {};
      }
    }

    function failed(entry, message) {
      entry.state = "failed";
      entry.row.classList.remove("upload-sending");
      entry.row.classList.add("upload-failed");
      entry.status.textContent = message;
    }
  }

  // After guest uploads: the album's count, actions and grid as the server has them now.
  function refreshPhotos() {
    fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        [".recipient-head", "#recipient-photos"].forEach(function (selector) {
          var now = document.querySelector(selector), next = fresh.querySelector(selector);
          if (now && next) now.replaceWith(document.adoptNode(next));
        });
        var photos = document.getElementById("recipient-photos");
        if (photos) { paintPlaceholders(photos); watchMarkers(photos); }
        var freshViewer = fresh.getElementById("viewer");
        if (dialog && freshViewer) dialog.dataset.total = freshViewer.dataset.total;
      })
      .catch(function () { /* the photos are in; they show on the next visit */ });
  }

  paintPlaceholders(document);
  watchMarkers(document);
})();
