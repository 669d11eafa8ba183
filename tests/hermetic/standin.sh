# Builder of a hermetic stand-in package (test fixture only): copies host
# (Debian) executables into $out/bin with every shared library they need
# in $out/lib, and rewrites their ELF interpreter and rpath to point there,
# so the store path runs in an image that contains nothing else.
# Libraries found in the lib/ of a `libs` store path are used from there
# instead of copied, as nixpkgs keeps glibc and skalibs' libraries in
# store paths of their own; a library-only stand-in (`librariesOnly`)
# holds the libraries its executables need (less those of `libs`) and no
# executables.
# Runs with the host's bash and patchelf: Nix here builds with
# sandbox = false, and these paths exist only to stand in for nixpkgs.
#
# Environment: out, binaries (space-separated host paths), debPackages
# (Debian packages whose bin/ and sbin/ executables are all taken),
# files ("dest=host-path" pairs, dest relative to $out: data files such as
# nginx's conf/ copied as they are), paths ("from=to" compiled-in paths
# to replace), relinkScript (relink.sh, sourced),
# libraries (sonames of host libraries to take, library-only stand-ins),
# libs (store paths with a lib/ of shared libraries to link to),
# librariesOnly (non-empty: no bin/), links ("name=target" pairs, target
# relative to $out), PATH unset.
set -euo pipefail
shopt -s nullglob
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
# relink and add_links, shared with standin-deb.sh.
source "$relinkScript"

mkdir -p "$out/bin" "$out/lib"
declare -A seen=()

# Where a library of this basename is: a `libs` path's lib/, or "" when
# it must be copied here.
provided() {
  local dir
  for dir in ${libs:-}; do
    if [ -e "$dir/lib/$1" ]; then
      echo "$dir/lib"
      return
    fi
  done
}

copy_libs() {
  local lib
  # ldd prints "name => /path (addr)" and the interpreter as "/path (addr)".
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$lib" ] || continue
    local base
    base=$(basename "$lib")
    if [ -z "${seen[$base]:-}" ]; then
      seen[$base]=1
      [ -z "$(provided "$base")" ] || continue
      cp -L "$lib" "$out/lib/$base"
      chmod u+w "$out/lib/$base"
      copy_libs "$lib"
    fi
  done
}

for soname in ${libraries:-}; do
  lib=$(ldconfig -p | awk -v n="$soname" '$1 == n { print $NF; exit }')
  [ -n "$lib" ] || { echo "standin: no host library $soname" >&2; exit 1; }
  seen[$soname]=1
  cp -L "$lib" "$out/lib/$soname"
  chmod u+w "$out/lib/$soname"
  copy_libs "$lib"
done

for pkg in ${debPackages:-}; do
  for f in $(dpkg -L "$pkg" | grep -E '/(s?bin|lib/execline/bin)/[^/]+$'); do
    [ -f "$f" ] && [ -x "$f" ] && binaries="$binaries $f"
  done
done

for bin in ${binaries:-}; do
  if [ -n "${librariesOnly:-}" ]; then
    copy_libs "$bin"
    continue
  fi
  dest="$out/bin/$(basename "$bin")"
  cp -L "$bin" "$dest"
  chmod u+w "$dest"
  if patchelf --print-interpreter "$dest" >/dev/null 2>&1; then
    copy_libs "$bin"
  fi
done

# The rpath: this path's lib/ (only if it has libraries: the rpath is a
# reference), then the `libs`'.
rpath=
[ -z "$(ls "$out/lib")" ] || rpath=$out/lib
for dir in ${libs:-}; do rpath=${rpath:+$rpath:}$dir/lib; done

# The interpreter of an executable: in a `libs` path's lib/, else here.
interpreter_dir() {
  local dir
  dir=$(provided "$1")
  echo "${dir:-$out/lib}"
}
relink "$rpath"
add_links

for pair in ${files:-}; do
  mkdir -p "$(dirname "$out/${pair%%=*}")"
  cp -L "${pair#*=}" "$out/${pair%%=*}"
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

# paths: "from=to" pairs of compiled-in paths to replace where nixpkgs'
# build has others (nginx's temporary directories); `to` is no longer
# than `from`, padded with NULs so no offset moves.
for pair in ${paths:-}; do
  from=${pair%%=*} to=${pair#*=}
  [ ${#to} -le ${#from} ] || { echo "standin: $to is longer than $from" >&2; exit 1; }
  for f in "$out"/bin/*; do
    [ -L "$f" ] && continue
    FROM=$from TO=$to perl -0777 -pi -e \
      's{\Q$ENV{FROM}\E\0}{$ENV{TO} . ("\0" x (length($ENV{FROM}) - length($ENV{TO}))) . "\0"}ge' "$f"
  done
done

rmdir "$out/bin" "$out/lib" 2>/dev/null || true
chmod -R a-w "$out"
