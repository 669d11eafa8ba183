{ pkgs, ... }:
let
  # nginx in the foreground, logging to the container's log, with its
  # pid and temporary files under /tmp (its compiled-in /var/lib/nginx
  # does not exist in an image).
  conf = pkgs.writeText "nginx.conf" ''
    daemon off;
    error_log stderr;
    pid /tmp/nginx.pid;
    events { }
    http {
      access_log off;
      client_body_temp_path /tmp/nginx-body;
      proxy_temp_path /tmp/nginx-proxy;
      fastcgi_temp_path /tmp/nginx-fastcgi;
      uwsgi_temp_path /tmp/nginx-uwsgi;
      scgi_temp_path /tmp/nginx-scgi;
      server {
        listen 80;
        root /run/www;
      }
    }
  '';
in
{
  image.name = "web";
  image.exposedPorts."80/tcp" = { };
  s6.services = {
    # Runs to completion before nginx starts.
    site = {
      type = "oneshot-pre";
      script = "mkdir -p /run/www && echo 'hello from nginx under s6' > /run/www/index.html";
      path = [ pkgs.busybox ];
    };
    nginx.execStart = "${pkgs.nginx}/bin/nginx -e stderr -c ${conf}";
    # Runs once nginx is up. nginx declares no readiness (it cannot write
    # to a `notificationFd`), so "up" means "started", not "listening":
    # the check waits for the port itself, at most 10 s.
    warm-up = {
      type = "oneshot-post";
      script = "timeout 10 sh -c 'until wget -q -O /dev/null http://127.0.0.1/; do sleep 0.1; done'";
      path = [ pkgs.busybox ];
    };
  };
}
