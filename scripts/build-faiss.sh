#!/usr/bin/env bash
# Build faiss-node's native binding from its own npm sources against Debian's libfaiss-dev.
#
# faiss-node's install script downloads a prebuilt binary from GitHub (or clones faiss), which
# fails without internet, so package.json denies that script ("allowScripts") and this script
# compiles node_modules/faiss-node/src/faiss.cc instead. Debian ships faiss 1.7.3, whose idx_t
# lives in faiss::Index rather than namespace faiss: a one-line compatibility header fixes that.
# Idempotent: does nothing when the binding already loads.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=node_modules/faiss-node
OUT="$PKG/build/Release/faiss-node.node"

loads() { node -e "require('./$PKG')" >/dev/null 2>&1; }

if [ ! -d "$PKG" ]; then
  echo "build-faiss: $PKG is not installed (optional dependency); dgent/vector will use its TypeScript flat index"
  exit 0
fi
if [ -f "$OUT" ] && loads; then
  echo "build-faiss: faiss-node binding already built"
  exit 0
fi

if [ ! -f /usr/include/faiss/index_factory.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "build-faiss: installing libfaiss-dev from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq libfaiss-dev >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libfaiss-dev; }
  else
    echo "build-faiss: libfaiss-dev is missing and cannot be installed here (need root + apt); skipping"
    exit 0
  fi
fi

NODE_INC="$(node -p "require('path').resolve(process.execPath, '../../include/node')")"
[ -f "$NODE_INC/node_api.h" ] || NODE_INC=/usr/include/node
ADDON_INC="$(node -p "require('node-addon-api').include_dir" 2>/dev/null || node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))")"
ADDON_INC="${ADDON_INC//\"/}"
case "$ADDON_INC" in /*) ;; *) ADDON_INC="$PWD/$ADDON_INC" ;; esac

mkdir -p "$PKG/build/Release" "$PKG/build/compat"
cat > "$PKG/build/compat/faiss_compat.h" <<'H'
// faiss 1.7.3 (Debian bookworm) declares idx_t inside faiss::Index; faiss-node expects faiss::idx_t.
#pragma once
#include <faiss/Index.h>
#if !defined(FAISS_VERSION_MAJOR) || (FAISS_VERSION_MAJOR == 1 && FAISS_VERSION_MINOR < 8)
namespace faiss { using idx_t = faiss::Index::idx_t; }
#endif
H

echo "build-faiss: compiling faiss-node against libfaiss-dev (this takes a minute)"
g++ -std=c++17 -O2 -fPIC -shared -fopenmp \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS=0 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION \
  -include "$PKG/build/compat/faiss_compat.h" \
  -I"$NODE_INC" -I"$ADDON_INC" \
  "$PKG/src/faiss.cc" -o "$OUT.tmp" \
  -Wl,--whole-archive /usr/lib/x86_64-linux-gnu/libfaiss.a -Wl,--no-whole-archive \
  -llapack -lblas -lgomp -lpthread
mv "$OUT.tmp" "$OUT"
if loads; then
  echo "build-faiss: ok ($OUT)"
else
  node -e "require('./$PKG')"
  exit 1
fi
