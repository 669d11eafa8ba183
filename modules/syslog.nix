# `s6.syslog`: a reader of `/dev/log`, the socket syslog(3) writes to,
# run as the s6 long-run `dev-log` (s6's `s6-socklog`), so the messages
# of daemons that log to syslog land in the container's log beside their
# other output (docs/s6.md, "Syslog"). On NixOS journald reads
# `/dev/log`; an image has no journald, so the reader is on by default
# wherever the systemd shim runs a service. modules/s6.nix starts it
# before every long-run and oneshot-post (their `after`, in the init
# spec).
{
  config,
  options,
  lib,
  ...
}:
let
  inherit (lib)
    mkOption
    mkIf
    mkOptionDefault
    types
    literalMD
    elem
    ;
  cfg = config.s6.syslog;
  name = cfg.serviceName;

  # It stops after the other long-runs (below): s6 gives it as long as
  # the slowest of them, and a second (0, never killed, if one has it).
  timeouts = lib.mapAttrsToList (_: s: s.stopTimeout) (
    lib.filterAttrs (n: s: n != name && s.enable && s.type == "long-run") config.s6.services
  );
  stopTimeout = if elem 0 timeouts then 0 else 1000 + lib.foldl' lib.max 2000 timeouts;

  # Started by nci-init as a long-run with readiness (fd 3). /dev/log is
  # made only in a /dev of the container's own (the tmpfs podman, docker
  # and Kubernetes mount there; the host's is a devtmpfs: the init run
  # outside a container, `init STATE-DIR`, leaves it alone), and only
  # where nothing is there yet: a socket that exists belongs to another
  # reader (a volume such as `-v /dev/log:/dev/log`), which s6-socklog
  # would unlink. Where it cannot be made (/dev is root's and the
  # container runs as another user), the service says so once and stays
  # up, ready, doing nothing: the other services still start.
  #
  # s6 sends its stop signal to every service at once, and s6-socklog
  # stops reading at TERM: so it runs as this shell's child, and at TERM
  # the shell waits until the image's other long-runs are down (s6-svstat
  # in the scan directory, the working directory's parent) before it
  # passes the TERM on: what they log while they stop is kept, as systemd
  # stops journald last.
  script = ''
    exec {idle}<> <(:)
    pause() { read -r -t 0.05 -u "$idle" || true; }
    devfs=""
    if [ -r /proc/self/mounts ]; then
      while read -r _ mnt fs _; do
        if [ "$mnt" = /dev ]; then devfs=$fs; fi
      done </proc/self/mounts
    fi
    if [ "$devfs" != tmpfs ]; then
      echo "${name}: /dev is not a container's own (it is ''${devfs:-not a mount}, not a tmpfs): /dev/log is left to the host"
    elif [ -e /dev/log ] || [ -L /dev/log ]; then
      echo "${name}: /dev/log exists: left to the reader it belongs to (syslog messages go there, not to this log)"
    elif [ ! -w /dev ]; then
      echo "${name}: cannot create /dev/log: /dev is not writable by uid $EUID (syslog messages are lost; run the container as root to read them)"
    else
      stopping=0
      trap 'stopping=1' TERM
      if [ "$EUID" = 0 ]; then
        # Bound as root, then read as nobody (s6-socklog drops to it).
        s6-socklog -d 3 -u 65534 -g 65534 -G "" &
      else
        s6-socklog -d 3 &
      fi
      reader=$!
      exec 3>&-
      code=0
      wait "$reader" || code=$?
      if [ "$stopping" = 0 ]; then exit "$code"; fi
      if [ -d ../.s6-svscan ]; then
        for dir in ../*/; do
          if [ "$dir" = "../${name}/" ]; then continue; fi
          while [ "$(s6-svstat -o up "$dir" 2>/dev/null)" = true ]; do pause; done
        done
      fi
      kill -TERM "$reader"
      code=0
      wait "$reader" || code=$?
      exit "$code"
    fi
    # Ready (nothing to wait for), then idle until stopped: a read on a
    # pipe this shell holds both ends of never ends.
    echo >&3
    exec 3>&-
    read -r -u "$idle"
  '';
in
{
  # interface
  options.s6.syslog = {
    enable = mkOption {
      type = types.bool;
      default = options ? systemd && config.systemd.build.phases or { } != { };
      defaultText = literalMD "`true` when the systemd shim runs a service (an enabled `systemd.services` entry that is not only a timer's job), as NixOS always has journald reading `/dev/log`; `false` otherwise";
      example = true;
      description = ''
        Whether the image reads `/dev/log`, the socket that syslog(3),
        `logger` and daemons' "log to syslog" settings write to: an s6
        long-run (`s6.syslog.serviceName`, running s6's `s6-socklog`)
        prints each message to the container's log as one line, its
        priority as `facility.level: ` (`local7.err: Dec  6 01:51:41
        web nginx: ...`). See docs/s6.md, "Syslog". It starts
        before every long-run and oneshot-post (oneshot-pre services run
        before it, and their syslog messages are lost). Without it, those
        messages are lost: nothing reads `/dev/log` in a container.
      '';
    };

    serviceName = mkOption {
      type = types.str;
      default = "dev-log";
      example = "syslog-reader";
      description = ''
        The name of the reader's service in `s6.services` (set its
        `execLogger` to send the messages to an `s6-log` directory
        instead of the container's log). It must differ from the
        image's other services' names (NixOS' syslog modules name theirs
        `syslog`).
      '';
    };
  };

  # implementation
  config = mkIf cfg.enable {
    s6.services.${name} = {
      type = "long-run";
      inherit script;
      notificationFd = 3;
      inherit stopTimeout;
    };
    # Beside the default programs, not instead of them; a list of the
    # user's own must name it (assertion below).
    s6.programs = mkOptionDefault [ "s6-socklog" ];
    assertions = [
      {
        # The shim's own clash error names both services; this one says
        # which option renames the reader.
        assertion = !(config.systemd.services.${name}.enable or false);
        message = "s6.syslog.serviceName: '${name}' is also the name of systemd.services.${name}: set s6.syslog.serviceName to another name for the syslog reader";
      }
      {
        assertion = elem "s6-socklog" config.s6.programs;
        message = "s6.programs: 's6-socklog' is missing: s6.syslog.enable runs it (add it to the list, or set s6.syslog.enable = false)";
      }
    ];
  };
}
