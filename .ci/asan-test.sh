#!/usr/bin/env bash
# Build the addon with AddressSanitizer + UndefinedBehaviorSanitizer (cmake-js,
# CMakeLists.txt, SPARQ_SANITIZE=ON) and run the vitest suite against it.
#
#   .ci/asan-test.sh [extra vitest args...]
#
# Environment:
#   SPARQ_ASAN_NO_BUILD=1   reuse an existing build-asan/Release/sparq.node
#   SPARQ_ASAN_ISAS="scalar avx2 avx512"
#                           run the suite once per SPARQ_ISA level (default: once,
#                           with whatever SPARQ_ISA is already set, if any)
#   CMAKE_BUILD_PARALLEL_LEVEL   build jobs (default: nproc)
#   ASAN_OPTIONS / UBSAN_OPTIONS are appended to (so they override) the defaults.
#
# Exits with vitest's status (non-zero if any run failed). A sanitizer report
# aborts the test worker; vitest then reports "Worker exited unexpectedly" and
# fails the run, with the ASan/UBSan report printed above it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ADDON="$ROOT/build-asan/Release/sparq.node"

if [[ ! -x node_modules/.bin/vitest || ! -x node_modules/.bin/cmake-js ]]; then
  echo "asan-test: node_modules incomplete; run 'npm ci' first" >&2
  exit 2
fi

# ---------------------------------------------------------------- build -----
if [[ "${SPARQ_ASAN_NO_BUILD:-0}" != 1 ]]; then
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"

  # cmake-js downloads Node headers from nodejs.org unless the package is
  # marked Node-API (package.json "binary": {"napi_versions": [...]}: it then
  # uses node-api-headers from node_modules) or npm's "nodedir" points at an
  # installed Node with include/node/node.h. Offline, make sure one holds.
  napi_mode=$(node -p "Boolean(require('./package.json').binary?.napi_versions)")
  if [[ "$napi_mode" != true ]]; then
    nodedir=$(npm config get nodedir 2>/dev/null || true)
    if [[ -z "$nodedir" || "$nodedir" == undefined || "$nodedir" == null ]]; then
      # Prefix of the running node (e.g. /usr for /usr/bin/node).
      guess=$(node -p "require('path').resolve(process.execPath, '..', '..')")
      if [[ -f "$guess/include/node/node.h" ]]; then
        echo "asan-test: using Node headers from $guess (npm_config_nodedir)" >&2
        export npm_config_nodedir="$guess"
      else
        echo "asan-test: warning: no local Node headers found; cmake-js will try to download them" >&2
      fi
    fi
  fi

  npm run build:asan
fi

if [[ ! -f "$ADDON" ]]; then
  echo "asan-test: $ADDON not found (build failed?)" >&2
  exit 2
fi

# ------------------------------------------------------ sanitizer runtime ---
# node is not instrumented, so the ASan runtime has to be loaded first via
# LD_PRELOAD. Take the exact libasan the addon was linked against; fall back
# to asking the compiler. libubsan needs no preload (it is a DT_NEEDED of the
# addon and does not have to come first).
libasan=$(ldd "$ADDON" | awk '/libasan\.so/ { print $3; exit }')
if [[ -z "$libasan" || ! -f "$libasan" ]]; then
  libasan=$("${CXX:-g++}" -print-file-name=libasan.so)
fi
if [[ ! -f "$libasan" ]]; then
  echo "asan-test: cannot locate libasan.so (is $ADDON an ASan build?)" >&2
  exit 2
fi

export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
# detect_leaks=0: node/V8 do not free everything at exit.
# allocator_may_return_null=1: a huge allocation throws std::bad_alloc (as it
# does without ASan) instead of aborting the run.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:print_summary=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export SPARQ_ADDON_PATH="$ADDON"

# Smoke test: fails fast (and readably) if the preload setup is broken.
node -e "const a = require(process.env.SPARQ_ADDON_PATH); const i = a.cpuInfo();
         console.error('asan-test: loaded', process.env.SPARQ_ADDON_PATH, '(detected ' + i.detected + ')')"

# ----------------------------------------------------------------- tests ----
# --pool=forks: each test file runs in a child process (env, and so LD_PRELOAD,
# is inherited), so a sanitizer abort kills one worker and vitest reports it;
# with worker threads the abort would take down the whole vitest process.
run_vitest() {
  "$ROOT/node_modules/.bin/vitest" run --pool=forks "$@"
}

status=0
if [[ -n "${SPARQ_ASAN_ISAS:-}" ]]; then
  for isa in $SPARQ_ASAN_ISAS; do
    echo "asan-test: ===== SPARQ_ISA=$isa =====" >&2
    SPARQ_ISA="$isa" run_vitest "$@" || status=$?
  done
else
  run_vitest "$@" || status=$?
fi
exit "$status"
