# An image with three s6 programs (s6.programs): the oneshot-post lists
# the directory they are in, runs the copy of s6-svstat on the long-run,
# and looks for what the image should not have (another program, the
# whole package). The container exits with its code.
{ pkgs, ... }:
{
  image.name = "s6-programs";
  s6.programs = [
    "s6-svscan"
    "s6-supervise"
    "s6-svstat"
  ];
  s6.exitCodeFrom = "check";
  s6.services = {
    web = {
      path = [ pkgs.coreutils ];
      script = "exec sleep 1000";
    };
    check = {
      type = "oneshot-post";
      path = [ pkgs.coreutils ];
      script = ''
        svstat=$(command -v s6-svstat)
        echo bin: $(ls "$(dirname "$svstat")")
        echo "web: $(s6-svstat /run/s6/web)"
        echo "svc: $(command -v s6-svc || echo none)"
        echo "ftrigrd: $(ls /nix/store/*/bin/s6-ftrigrd 2>/dev/null || echo none)"
      '';
    };
  };
}
