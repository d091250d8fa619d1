# Sourced by scripts/test.sh and scripts/demo.sh: a .venv with the project and its test extras, and the
# Debian packages the tests start themselves: Chromium for the browser tests (Playwright's own browser
# download cannot work offline) and redis-server for the distributed runs (Celery's broker).
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
missing=""
if [ "${W365_SKIP_CHROMIUM:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  missing="$missing chromium"
fi
if [ "${W365_SKIP_REDIS:-0}" != "1" ] && ! command -v redis-server >/dev/null 2>&1; then
  missing="$missing redis-server"
fi
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
