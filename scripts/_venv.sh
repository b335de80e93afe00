# Sourced by scripts/run and scripts/test: make .venv with Python 3.11+ and install a lock file,
# skipping the install when that lock file has not changed since the last one.

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Shoebox needs Python 3.11 or newer; install it (e.g. apt-get install python3) and run this again." >&2
  return 1
}

# ensure_venv LOCKFILE: .venv exists and has exactly what LOCKFILE pins.
ensure_venv() {
  local lock="$1" stamp=".venv/.installed-$(basename "$1")" want
  if [ ! -x .venv/bin/python ]; then
    local python
    python=$(find_python)
    echo "Creating .venv with $("$python" --version)..."
    "$python" -m venv .venv
  fi
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing dependencies from $lock (first run takes a minute)..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$lock"
    rm -f .venv/.installed-*
    echo "$want" > "$stamp"
  fi
}

compile_translations() {
  local output
  output=$(.venv/bin/pybabel compile -f -d translations 2>&1) || { echo "$output" >&2; return 1; }
}
