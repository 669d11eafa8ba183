# NixOS' own memcached module in an image, unchanged
# (nix/nixos-modules.nix), run as the `memcached` user.
# `podman run -p 11211:11211 memcached`, then `echo version | nc HOST 11211`.
{
  image = {
    name = "memcached";
    exposedPorts."11211/tcp" = { };
  };
  services.memcached = {
    enable = true;
    # The container's address, not only its loopback.
    listen = "0.0.0.0";
  };
}
