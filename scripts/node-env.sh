#!/usr/bin/env bash
# Puts a Node.js >= 22.12 first on PATH. Source it: `. scripts/node-env.sh`.
# wrangler and vitest need Node 22; machines that ship an older Node get the `node@22` package from
# the npm registry (it carries the official binary) installed into .tools/, which git ignores.
_gh_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_gh_tools="$_gh_root/.tools/node22"
_gh_want_major=22
_gh_want_minor=12

_gh_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e "const [a,b]=process.versions.node.split('.').map(Number);process.exit(a>$_gh_want_major||(a===$_gh_want_major&&b>=$_gh_want_minor)?0:1)"
}

if ! _gh_node_ok; then
  if [ ! -x "$_gh_tools/node_modules/node/bin/node" ] || ! "$_gh_tools/node_modules/node/bin/node" --version >/dev/null 2>&1; then
    echo "node-env: installing Node 22 into .tools/ (machine has $(node --version 2>/dev/null || echo none))" >&2
    mkdir -p "$_gh_tools"
    npm install --prefix "$_gh_tools" --no-save --no-audit --no-fund --loglevel=error node@22 >&2
    if ! "$_gh_tools/node_modules/node/bin/node" --version >/dev/null 2>&1; then
      # npm versions that skip install scripts leave the shim without its binary: take the platform package.
      _gh_plat="$(uname -s | tr '[:upper:]' '[:lower:]')-$(uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')"
      npm install --prefix "$_gh_tools" --no-save --no-audit --no-fund --loglevel=error "node-$_gh_plat@22" >&2
      mkdir -p "$_gh_tools/node_modules/node/bin"
      ln -sf "$_gh_tools/node_modules/node-$_gh_plat/bin/node" "$_gh_tools/node_modules/node/bin/node"
    fi
  fi
  export PATH="$_gh_tools/node_modules/node/bin:$PATH"
  hash -r
fi
unset _gh_root _gh_tools _gh_want_major _gh_want_minor
unset -f _gh_node_ok
