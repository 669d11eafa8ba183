# Sourced by standin.sh and standin-deb.sh (test fixtures only): the
# steps both kinds of stand-in end with, written once.

# relink RPATH: each ELF executable of $out/bin gets the interpreter
# `interpreter_dir NAME`/NAME (NAME the basename of the one it was linked
# with; interpreter_dir is the sourcing script's) and RPATH; each library
# of $out/lib but the dynamic loader gets RPATH.
relink() {
  local rpath=$1 f interp
  for f in "$out"/bin/*; do
    if interp=$(patchelf --print-interpreter "$f" 2>/dev/null); then
      interp=$(basename "$interp")
      patchelf --set-interpreter "$(interpreter_dir "$interp")/$interp" --set-rpath "$rpath" "$f"
    fi
  done
  for f in "$out"/lib/*; do
    case "$f" in
      */ld-linux*) ;;
      *) patchelf --set-rpath "$rpath" "$f" ;;
    esac
  done
}

# add_links: the `links` ("name=target" pairs, target relative to $out).
add_links() {
  local pair
  for pair in ${links:-}; do
    mkdir -p "$(dirname "$out/${pair%%=*}")"
    ln -s "${pair#*=}" "$out/${pair%%=*}"
  done
}
