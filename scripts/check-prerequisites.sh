#!/usr/bin/env bash
# The prerequisites the tests need beyond npm's packages (README "Prerequisites"), checked in one
# place: by `npm test` (its pretest script) and by .ci/run before it installs anything. Names every
# one missing with the line that installs it and exits 1.
#   --install-shellcheck  install shellcheck with apt-get when it is absent and this runs as root
#                         (CI does; Debian ships it).
set -euo pipefail

install_shellcheck=false
for arg in "$@"; do
  case "$arg" in
    --install-shellcheck) install_shellcheck=true ;;
    *) echo "usage: $0 [--install-shellcheck]" >&2; exit 2 ;;
  esac
done

missing=()
if ! command -v node >/dev/null; then
  missing+=("Node.js 20 or newer (node): https://nodejs.org")
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  missing+=("Node.js 20 or newer (found $(node --version)): https://nodejs.org")
fi
if ! command -v python3 >/dev/null; then
  missing+=("Python 3 (python3), which runs moto's server, the local AWS emulator")
elif ! python3 -c 'import moto.server' 2>/dev/null; then
  missing+=("moto's server for Python 3, the local AWS emulator: pip install 'moto[server]'")
fi
command -v cfn-lint >/dev/null || missing+=("cfn-lint, for the infra tests: pip install cfn-lint")
if ! command -v shellcheck >/dev/null && $install_shellcheck && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq shellcheck) >/dev/null
fi
command -v shellcheck >/dev/null ||
  missing+=("shellcheck, which lint runs on the registration script: apt-get install shellcheck (macOS: brew install shellcheck)")

if [ "${#missing[@]}" -gt 0 ]; then
  for item in "${missing[@]}"; do echo "missing prerequisite: $item" >&2; done
  echo "(README.md, Prerequisites; the tests were not run)" >&2
  exit 1
fi
