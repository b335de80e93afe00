// Applies the saved light/dark choice before the page paints (loaded without defer).
(function () {
  try {
    var saved = localStorage.getItem("shoebox-theme");
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  } catch (e) { /* storage may be blocked; the system setting applies */ }
})();
