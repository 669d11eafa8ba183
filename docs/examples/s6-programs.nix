{ options, pkgs, ... }:
{
  image.name = "s6-programs";
  # The default list and what the services' scripts use: s6-setuidgid
  # runs s6-envuidgid and s6-applyuidgid, so they come along.
  s6.programs = options.s6.programs.default ++ [ "s6-setuidgid" "s6-envuidgid" "s6-applyuidgid" ];
  s6.exitCodeFrom = "who";
  s6.services.who = {
    type = "oneshot-post";
    script = "s6-setuidgid nobody id -un";
    path = [ pkgs.busybox ];
  };
}
