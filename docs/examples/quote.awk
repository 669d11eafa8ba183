# The awk half of docs/examples/quote: prints the markdown file with every
# quoted block refreshed from its file, reports unmarked blocks (exit 1).
function err(msg) { printf "%s:%d: %s\n", md, NR, msg > "/dev/stderr"; bad = 1 }
BEGIN { marker = ""; inblock = 0; quoting = 0; bad = 0 }
inblock {
  if ($0 ~ /^```/) { inblock = 0; print; next }
  if (!quoting) print
  next
}
/^```/ {
  lang = substr($0, 4)
  quoting = 0
  print
  if (marker ~ /^example: /) {
    file = substr(marker, 10)
    quoting = 1
    n = 0
    while ((r = (getline line < file)) > 0) { print line; n++ }
    if (r < 0 || n == 0) err(file " (quoted here) does not exist or is empty")
    close(file)
  } else if (lang == "nix") {
    err("a ```nix block must be quoted from a file the suite runs: put <!-- example: docs/examples/NAME.nix --> on the line before it")
  } else if (lang == "console" && marker !~ /^(run|run: result=[^ ]+|online|not run: .+)$/) {
    err("a ```console block must say how it is tested: <!-- run -->, <!-- run: result=MODULE -->, <!-- online --> or <!-- not run: REASON --> on the line before it")
  }
  inblock = 1
  marker = ""
  next
}
{
  if ($0 ~ /^<!-- .* -->$/) marker = substr($0, 6, length($0) - 9)
  else marker = ""
  print
}
END { exit bad }
