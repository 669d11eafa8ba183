# Builder of a hermetic stand-in package of another architecture (test
# fixture only): unpacks Debian packages of that architecture (downloaded
# by tests/setup with `apt-get download PKG:ARCH`, never installed), and
# copies the named executables into $out/bin with the shared libraries
# they need (read from the ELF's DT_NEEDED with patchelf: the host's ldd
# cannot run a foreign binary) into $out/lib, their interpreter and rpath
# pointing there: the store path runs in an image of that architecture
# that contains nothing else, like standin.sh's for the host's.
#
# Environment: out, debDir (where the .deb files are), arch (Debian's
# architecture name, arm64), debPackages (the packages to unpack: their
# executables and libraries are looked up in them), binaries (paths
# inside the packages, /usr/bin/hello), links ("name=target" pairs),
# relinkScript (relink.sh, sourced).
set -euo pipefail
shopt -s nullglob
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
# relink and add_links, shared with standin.sh.
source "$relinkScript"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
for pkg in $debPackages; do
  debs=("$debDir/${pkg}"_*_"$arch".deb)
  [ ${#debs[@]} -gt 0 ] || {
    echo "standin-deb: no $pkg:$arch package in $debDir (tests/setup downloads it: apt-get download $pkg:$arch)" >&2
    exit 1
  }
  dpkg-deb -x "${debs[0]}" "$root"
done

mkdir -p "$out/bin" "$out/lib"
declare -A seen=()

# The library of this soname in the unpacked packages' library directories.
find_lib() {
  local d
  for d in "$root/lib/"*-linux-gnu "$root/usr/lib/"*-linux-gnu "$root/lib" "$root/usr/lib"; do
    if [ -e "$d/$1" ]; then
      readlink -f "$d/$1"
      return
    fi
  done
  echo "standin-deb: no library $1 in $debPackages" >&2
  exit 1
}

copy_needed() {
  local soname
  for soname in $(patchelf --print-needed "$1"); do
    [ -z "${seen[$soname]:-}" ] || continue
    seen[$soname]=1
    local lib
    lib=$(find_lib "$soname")
    cp "$lib" "$out/lib/$soname"
    chmod u+w "$out/lib/$soname"
    copy_needed "$lib"
  done
}

for bin in $binaries; do
  dest="$out/bin/$(basename "$bin")"
  cp "$(readlink -f "$root$bin")" "$dest"
  chmod u+w "$dest"
  if interp=$(patchelf --print-interpreter "$dest" 2>/dev/null); then
    name=$(basename "$interp")
    if [ -z "${seen[$name]:-}" ]; then
      seen[$name]=1
      cp "$(find_lib "$name")" "$out/lib/$name"
      chmod u+w "$out/lib/$name"
    fi
    copy_needed "$dest"
  fi
done

interpreter_dir() { echo "$out/lib"; }
relink "$out/lib"
add_links

rmdir "$out/bin" "$out/lib" 2>/dev/null || true
chmod -R a-w "$out"
