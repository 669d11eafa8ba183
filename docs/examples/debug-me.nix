{ pkgs, ... }:
{
  image.name = "debug-me";
  image.tag = "1.0";
  # A shell and the usual tools (ps, ls, cat, wget, ...) for `podman exec`.
  environment.systemPackages = [ pkgs.busybox ];
  s6.services.web = {
    path = [ pkgs.busybox ];
    script = "mkdir -p /tmp/www && echo up > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www";
  };
  # Fails until /tmp/ready exists.
  s6.services.picky = {
    path = [ pkgs.busybox ];
    script = ''
      test -f /tmp/ready || { echo "picky: /tmp/ready is missing"; exit 3; }
      exec sleep 1000
    '';
  };
}
