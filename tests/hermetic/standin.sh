# Builder of a hermetic stand-in package (test fixture only): copies host
# (Debian) executables into $out/bin with every shared library they need
# in $out/lib, and rewrites their ELF interpreter and rpath to point there,
# so the store path runs in an image that contains nothing else.
# Runs with the host's bash and patchelf: Nix here builds with
# sandbox = false, and these paths exist only to stand in for nixpkgs.
#
# Environment: out, binaries (space-separated host paths), debPackages
# (Debian packages whose bin/ and sbin/ executables are all taken),
# links ("name=target" pairs, target relative to $out), PATH unset.
set -euo pipefail
shopt -s nullglob
export PATH=/usr/bin:/bin:/usr/sbin:/sbin

mkdir -p "$out/bin" "$out/lib"
declare -A seen=()

copy_libs() {
  local lib
  # ldd prints "name => /path (addr)" and the interpreter as "/path (addr)".
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$lib" ] || continue
    local base
    base=$(basename "$lib")
    if [ -z "${seen[$base]:-}" ]; then
      seen[$base]=1
      cp -L "$lib" "$out/lib/$base"
      chmod u+w "$out/lib/$base"
      copy_libs "$lib"
    fi
  done
}

for pkg in ${debPackages:-}; do
  for f in $(dpkg -L "$pkg" | grep -E '/(s?bin|lib/execline/bin)/[^/]+$'); do
    [ -f "$f" ] && [ -x "$f" ] && binaries="$binaries $f"
  done
done

for bin in ${binaries:-}; do
  dest="$out/bin/$(basename "$bin")"
  cp -L "$bin" "$dest"
  chmod u+w "$dest"
  if interp=$(patchelf --print-interpreter "$dest" 2>/dev/null); then
    copy_libs "$bin"
    patchelf --set-interpreter "$out/lib/$(basename "$interp")" --set-rpath "$out/lib" "$dest"
  fi
done

for lib in "$out"/lib/*; do
  case "$lib" in
    */ld-linux*) ;;
    *) patchelf --set-rpath "$out/lib" "$lib" ;;
  esac
done

for pair in ${links:-}; do
  mkdir -p "$(dirname "$out/${pair%%=*}")"
  ln -s "${pair#*=}" "$out/${pair%%=*}"
done

# binPrefix: an absolute prefix compiled in for sibling programs (Debian's
# s6 runs /usr/bin/s6-supervise). Turn "<prefix><name>" into "<name>", found
# on PATH as with an empty prefix, padding with NULs so no offset moves.
if [ -n "${binPrefix:-}" ]; then
  for f in "$out"/bin/*; do
    [ -L "$f" ] && continue
    BINPREFIX=$binPrefix perl -0777 -pi -e \
      's{\Q$ENV{BINPREFIX}\E([A-Za-z0-9_.+-]+)\0}{$1 . ("\0" x length($ENV{BINPREFIX})) . "\0"}ge' "$f"
  done
fi

rmdir "$out/lib" 2>/dev/null || true
chmod -R a-w "$out"
