# Tests of `environment.etc` (modules/etc.nix), the /etc defaults
# (nsswitch, hosts, os-release, CA bundle) and the /etc tree nci-etc
# writes (issue 4). Fixture: tests/modules/users-and-etc.nix.

etc_spec() {
  eval_image "$1" etc.spec | jq -S .
}

t_L3_etc_entries_evaluate_to_nixos_semantics() {
  local spec
  spec=$(etc_spec '{ image.name = "x";
    environment.etc.a.text = "hello";
    environment.etc."b/c.conf" = { text = "x"; mode = "0600"; uid = 5; gid = 6; };
    environment.etc.d = { source = "/run/d"; target = "dd"; user = "alice"; };
    environment.etc.off = { enable = false; text = "no"; };
  }')
  assert_eq "$(jq -c '.entries.a | [.mode, .target, .user, .group]' <<<"$spec")" '["symlink","a","+0","+0"]'
  # Those defaults are nci-etc's (etc_spec.rs, nix/etc-defaults.json).
  assert_eq "$(jq -c '.entries.a | [.mode, .user, .group]' <<<"$spec")" \
    "$(jq -c '.entry | [.mode, "+\(.uid)", "+\(.gid)"]' "$ROOT/nix/etc-defaults.json")"
  [[ $(jq -r .entries.a.source <<<"$spec") == "$NIX_STORE_DIR"/*-etc-a || $(jq -r .entries.a.source <<<"$spec") == /nix/store/*-etc-a ]] \
    || fail "text source: $(jq -r .entries.a.source <<<"$spec")"
  assert_eq "$(jq -c '.entries."b/c.conf" | [.mode, .user, .group]' <<<"$spec")" '["0600","+5","+6"]'
  assert_eq "$(jq -c '.entries.d | [.source, .target, .user]' <<<"$spec")" '["/run/d","dd","alice"]'
  assert_eq "$(jq -c '.entries.off' <<<"$spec")" null
  # The defaults NixOS provides too.
  assert_eq "$(jq -c '[.entries."nsswitch.conf".mode, .entries."os-release".mode, .entries.hosts.mode]' <<<"$spec")" '["symlink","symlink","0644"]'
  # No CA bundle unless asked for.
  assert_eq "$(jq -c '.entries."ssl/certs/ca-certificates.crt"' <<<"$spec")" null
}

t_L3_etc_two_entries_for_one_path_fail_naming_both() {
  expect_build_error '{ image.name = "x"; environment.etc.a = { target = "app.conf"; text = "1"; }; environment.etc.b = { target = "./app.conf"; text = "2"; }; }' \
    '/etc/app\.conf: conflict between environment\.etc\.a and environment\.etc\.b'
}

t_L3_etc_file_where_a_directory_is_needed_fails_naming_both() {
  expect_build_error '{ image.name = "x"; environment.etc.ssl.text = "1"; environment.etc."ssl/certs/x.pem".text = "2"; }' \
    'environment\.etc\."ssl/certs/x\.pem": /etc/ssl/certs/x\.pem needs /etc/ssl to be a directory, but environment\.etc\.ssl puts a file there'
}

t_L3_etc_absolute_and_escaping_targets_are_errors() {
  expect_build_error '{ image.name = "x"; environment.etc.a = { target = "/etc/passwd"; text = "1"; }; }' \
    'environment\.etc\.a\.target: "/etc/passwd" is absolute; targets are relative to /etc'
  expect_build_error '{ image.name = "x"; environment.etc.b = { target = "../bin/sh"; text = "1"; }; }' \
    "environment\.etc\.b\.target: \"\.\./bin/sh\" contains '\.\.', which could escape /etc"
}

t_L3_etc_entry_over_a_users_file_is_a_conflict() {
  expect_build_error '{ image.name = "x"; environment.etc.passwd.text = "root:x:0:0::/:/bin/sh"; }' \
    '/etc/passwd: conflict between users\.users and users\.groups and environment\.etc\.passwd'
}

t_L3_etc_owner_that_is_not_an_account_is_an_error() {
  expect_build_error '{ image.name = "x"; environment.etc.a = { text = "1"; mode = "0600"; user = "bob"; }; }' \
    'environment\.etc\.a\.user: user .bob. is not defined \(add users\.users\.bob\)'
}

t_L3_etc_bad_mode_is_an_error() {
  expect_build_error '{ image.name = "x"; environment.etc.a = { text = "1"; mode = "rw-r--r--"; }; }' \
    'environment\.etc\.a\.mode: "rw-r--r--" is neither "symlink" nor an octal mode'
}

t_L3_etc_copy_from_outside_the_store_is_an_error() {
  expect_build_error '{ image.name = "x"; environment.etc.a = { source = "/etc/hostname"; mode = "0644"; }; }' \
    'environment\.etc\.a\.source: /etc/hostname is outside the Nix store, so it cannot be copied at build time'
}

t_L4_etc_files_modes_and_owners_in_the_container() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/tests/modules/users-and-etc.nix")")
  # A copied file with mode 0600 owned by a user: hers to read, not root's group's.
  out=$("${PODMAN_RUN[@]}" "$ref" 'stat -c "%U:%G %a" /etc/app/secret.conf; cat /etc/app/secret.conf')
  assert_eq "$out" $'alice:users 600\ntoken=42'
  out=$("${PODMAN_RUN[@]}" "$ref" 'stat -c "%U:%G %a" /etc/svc.conf; cat /etc/svc.conf 2>&1 || true')
  assert_eq "$out" $'root:svc 440\ncat: can\'t open \'/etc/svc.conf\': Permission denied'
  out=$("${PODMAN_RUN[@]}" --user svc "$ref" 'cat /etc/svc.conf')
  assert_eq "$out" "listen=8080"
  # A symlinked text entry; what it refers to is in the image.
  out=$("${PODMAN_RUN[@]}" "$ref" 'readlink /etc/motd | grep -c "^/nix/store/.*-etc-motd$"; $(cut -d" " -f2 /etc/motd)')
  assert_eq "$out" $'1\nHello, world!'
  out=$("${PODMAN_RUN[@]}" "$ref" 'test -e /etc/disabled && echo present || echo absent')
  assert_eq "$out" absent
}

t_L4_etc_defaults_nsswitch_hosts_os_release_and_no_ca_bundle() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/tests/modules/users-and-etc.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref" 'grep -E "^(passwd|hosts):" /etc/nsswitch.conf')
  assert_eq "$out" $'passwd:    files\nhosts:     files dns'
  out=$("${PODMAN_RUN[@]}" "$ref" 'grep -E "^(ID|IMAGE_ID)=" /etc/os-release')
  assert_eq "$out" $'ID="nix-container-images"\nIMAGE_ID="users-and-etc"'
  # The image's /etc/hosts, seen where the runtime mounts none.
  out=$("${PODMAN_RUN[@]}" --no-hosts "$ref" 'cat /etc/hosts')
  assert_eq "$out" $'127.0.0.1 localhost\n::1 localhost\n10.11.12.13 db.internal'
  out=$("${PODMAN_RUN[@]}" "$ref" 'ls /etc/ssl 2>&1 || true; echo "SSL_CERT_FILE=$SSL_CERT_FILE"')
  assert_eq "$out" $'ls: /etc/ssl: No such file or directory\nSSL_CERT_FILE='
}

t_L4_etc_ca_bundle_with_extra_certificates() {
  local ref out cert
  cert=$(sed -n '1,/END CERTIFICATE/p' /etc/ssl/certs/ca-certificates.crt | sed 's/^/      /')
  ref=$(load_image "$(build_image -E "{ pkgs, ... }: {
    image.name = \"pki\";
    image.entryPoint = [ \"\${pkgs.busybox}/bin/sh\" \"-c\" ];
    security.pki.installCACerts = true;
    security.pki.certificates = [ ''
      Extra test CA
$cert
    '' ];
  }")")
  out=$("${PODMAN_RUN[@]}" "$ref" 'echo $SSL_CERT_FILE; for f in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-bundle.crt /etc/pki/tls/certs/ca-bundle.crt; do test -s $f && echo ok; done')
  assert_eq "$out" $'/etc/ssl/certs/ca-certificates.crt\nok\nok\nok'
  out=$("${PODMAN_RUN[@]}" "$ref" 'grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt; grep -c "Extra test CA" /etc/ssl/certs/ca-certificates.crt')
  local host_count
  host_count=$(grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt)
  assert_eq "$out" "$((host_count + 1))"$'\n'1
}
