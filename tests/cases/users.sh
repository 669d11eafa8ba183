# Tests of `users.users` / `users.groups` (modules/users.nix) and the
# users tree nci-etc writes (issue 4). Fixtures: tests/golden/users/,
# tests/modules/users-and-etc.nix.

# The spec of a module expression, keys sorted.
users_spec() {
  eval_image "$1" users.spec | jq -S .
}

# The users tree (passwd, group, shadow, ...) of a module expression.
users_tree() {
  nbuild "$ROOT/tests/build.nix" --arg module "$1" -A users
}

t_L3_users_golden_module_evaluates_to_the_golden_spec() {
  users_spec "$ROOT/tests/golden/users/module.nix" >spec.json
  diff -u "$ROOT/tests/golden/users/spec.json" spec.json \
    || fail "the spec differs from tests/golden/users/spec.json (tests/golden/refresh if intended)"
}

t_L3_users_root_and_nobody_exist_by_default_as_in_nixos() {
  local spec
  spec=$(users_spec '{ image.name = "x"; }')
  assert_eq "$(jq -c '.users.root | [.uid, .group, .home]' <<<"$spec")" '[0,"root","/root"]'
  assert_eq "$(jq -c '.users.nobody | [.uid, .group, .isSystemUser]' <<<"$spec")" '[65534,"nogroup",true]'
  assert_eq "$(jq -c '[.groups.root.gid, .groups.nogroup.gid, .groups.users.gid, .groups.wheel.gid, .groups.shadow.gid]' <<<"$spec")" '[0,65534,100,1,318]'
}

t_L3_users_normal_user_gets_home_group_users_and_a_login_shell() {
  local spec
  spec=$(users_spec '{ image.name = "x"; users.users.alice.isNormalUser = true; }')
  assert_eq "$(jq -c '.users.alice | [.group, .home, .createHome, .homeMode, .shell, .uid]' <<<"$spec")" \
    '["users","/home/alice",true,"700","/bin/sh",null]'
}

t_L3_users_nixos_service_module_accounts_evaluate_with_ids() {
  # What services.nginx sets, through the old alias users.extraUsers too.
  local spec
  spec=$(users_spec '{ config, ... }: {
    image.name = "x";
    users.users.nginx = { group = "nginx"; isSystemUser = true; uid = config.ids.uids.nginx; };
    users.groups.nginx.gid = config.ids.gids.nginx;
    users.extraUsers.legacy = { isSystemUser = true; group = "nogroup"; };
  }')
  assert_eq "$(jq -c '[.users.nginx.uid, .groups.nginx.gid, .users.legacy.isSystemUser]' <<<"$spec")" '[60,60,true]'
}

t_L3_users_shell_package_is_installed_and_written_as_its_path() {
  local out
  out=$(eval_image '{ pkgs, ... }: { image.name = "x"; users.users.alice = { isNormalUser = true; shell = pkgs.bashInteractive; }; }' \
    config.environment.systemPackages)
  assert_contains "$out" "-bash-5.2"
  assert_eq "$(users_spec '{ pkgs, ... }: { image.name = "x"; users.users.alice = { isNormalUser = true; shell = pkgs.bashInteractive; }; }' | jq -r .users.alice.shell)" /bin/bash
}

t_L3_users_clear_text_passwords_hash_to_what_openssl_computes() {
  local tree line name hash salt clear
  tree=$(users_tree "$ROOT/tests/golden/users/module.nix")
  for pair in bob:hunter2 carol:secret; do
    name=${pair%%:*} clear=${pair#*:}
    line=$(grep "^$name:" "$tree/root/etc/shadow")
    hash=$(cut -d: -f2 <<<"$line")
    salt=$(cut -d'$' -f3 <<<"$hash")
    assert_eq "$hash" "$(openssl passwd -6 -salt "$salt" "$clear")" "for $name"
  done
  assert_eq "$(grep '^alice:' "$tree/root/etc/shadow" | cut -d: -f2)" \
    "$(openssl passwd -6 -salt abcdefgh alicepw)"
  assert_eq "$(grep '^root:' "$tree/root/etc/shadow")" "root:!:1::::::"
}

t_L3_users_adding_a_user_keeps_the_others_ids() {
  local one two
  one=$(users_tree '{ image.name = "x"; users.users.alice.isNormalUser = true; users.users.svc = { isSystemUser = true; group = "svc"; }; users.groups.svc = { }; }')
  two=$(users_tree '{ image.name = "x"; users.users.alice.isNormalUser = true; users.users.svc = { isSystemUser = true; group = "svc"; }; users.groups.svc = { };
    users.users.aaron.isNormalUser = true; users.users.zed = { isSystemUser = true; group = "zed"; }; users.groups.zed = { }; }')
  for u in alice svc; do
    # Both present: two missing lines would compare equal.
    grep -q "^$u:" "$one/root/etc/passwd" || fail "$u is not in /etc/passwd"
    assert_eq "$(grep "^$u:" "$two/root/etc/passwd")" "$(grep "^$u:" "$one/root/etc/passwd")" "($u renumbered)"
  done
  grep -q '^svc:' "$one/root/etc/group" || fail "svc is not in /etc/group"
  assert_eq "$(grep '^svc:' "$two/root/etc/group")" "$(grep '^svc:' "$one/root/etc/group")"
  # The same configuration built again gives the same tree.
  assert_eq "$(users_tree '{ image.name = "y"; users.users.alice.isNormalUser = true; users.users.svc = { isSystemUser = true; group = "svc"; }; users.groups.svc = { }; }')" "$one"
}

t_L3_users_an_extra_group_nobody_declares_is_left_out_with_a_warning_as_nixos_leaves_it_out() {
  # NixOS (users-groups.nix) makes each declared group's members from
  # the users' extraGroups: a group nobody declares is not written and
  # nothing fails. Here too, and a warning says so.
  local m='{ image.name = "x"; users.users.alice = { isNormalUser = true; extraGroups = [ "docker" "wheel" "docker" ]; }; }'
  assert_eq "$(eval_image "$m" config.warnings | jq -r '.[]')" \
    "users.users.alice.extraGroups: group 'docker' is not declared, so alice is not made a member of it (NixOS leaves it out too); declare it with users.groups.docker = { }; if alice needs it."
  local tree
  tree=$(users_tree "$m")
  grep -q '^docker:' "$tree/root/etc/group" && fail "an undeclared group was written"
  # wheel is one of NixOS' own groups, declared in every image as there.
  assert_eq "$(grep '^wheel:' "$tree/root/etc/group" | cut -d: -f4)" alice
  # Declared, it is written with alice as its member, and no warning.
  m='{ image.name = "x"; users.users.alice = { isNormalUser = true; extraGroups = [ "docker" ]; }; users.groups.docker = { }; }'
  assert_eq "$(eval_image "$m" config.warnings | jq -r '.[]')" ""
  assert_eq "$(grep '^docker:' "$(users_tree "$m")/root/etc/group" | cut -d: -f4)" alice
}

t_L3_users_home_written_with_a_trailing_slash_is_created_and_owned() {
  local module='{ image.name = "x"; users.users.svc = { isSystemUser = true; group = "nogroup"; home = "/var/lib/svc/"; createHome = true; homeMode = "750"; }; }'
  local tree
  tree=$(users_tree "$module")
  assert_eq "$(grep '^svc:' "$tree/root/etc/passwd" | cut -d: -f6)" /var/lib/svc/
  assert_eq "$(jq -c '[.entries[] | select(.path | startswith("/var/lib/svc")) | [.path, .mode]]' "$tree/manifest.json")" '[["/var/lib/svc","0750"]]'
  # The image writer finds the manifest's path in the tree.
  build_image -E "$module" >/dev/null
}

t_L3_users_duplicate_uids_are_allowed_when_uniqueness_is_not_enforced() {
  # The error (users.users.b.uid: users.users.a.uid has the same uid
  # 1000 ...) is a row of tests/golden/bad-inputs.json.
  users_tree '{ image.name = "x"; users.enforceIdUniqueness = false; users.users.a = { isNormalUser = true; uid = 1000; }; users.users.b = { isNormalUser = true; uid = 1000; }; }' >/dev/null
}

t_L3_users_password_hash_with_a_colon_is_a_type_error() {
  expect_build_error '{ image.name = "x"; users.users.alice = { isNormalUser = true; hashedPassword = "a:b"; }; }' \
    "users\.users\.alice\.hashedPassword' is not of type .*not containing newlines or colons"
}

t_L3_users_password_file_outside_the_store_is_an_error() {
  expect_build_error '{ image.name = "x"; users.users.alice = { isNormalUser = true; hashedPasswordFile = "/run/secrets/alice"; }; }' \
    'users\.users\.alice\.hashedPasswordFile: /run/secrets/alice is not in the Nix store; an image has no activation step'
}

t_L3_users_image_user_must_be_an_account_of_the_image() {
  # The exact words are the bad-inputs table's image.user rows.
  expect_build_error '{ image.name = "x"; image.user = "alice"; }' \
    "image\.user: user 'alice' is not defined \(add users\.users\.alice\)"
  expect_build_error '{ image.name = "x"; image.user = "nobody:staff"; }' \
    "image\.user: group 'staff' is not defined \(add users\.groups\.staff = \{ \};\)"
  eval_image '{ image.name = "x"; image.user = "1234:4321"; }' imageName >/dev/null
}

t_L4_users_example_image_runs_id_alice() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/images/users.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref" id alice)
  [[ $out =~ ^uid=[0-9]+\(alice\)\ gid=100\(users\)\ groups=100\(users\)$ ]] || fail "id alice: $out"
}

t_L4_users_accounts_homes_and_shadow_in_the_container() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/tests/modules/users-and-etc.nix")")
  # The image runs as alice (image.user), with her groups.
  out=$("${PODMAN_RUN[@]}" "$ref" 'id -un; id -gn; id -Gn')
  assert_eq "$out" $'alice\nusers\nusers wheel'
  # Busybox has no getent: read the files as its id does.
  out=$("${PODMAN_RUN[@]}" "$ref" 'grep "^alice:" /etc/passwd; grep "^wheel:" /etc/group')
  [[ $out =~ ^alice:x:[0-9]+:100:Alice\ Q\.\ User:/home/alice:/bin/bash$'\n'wheel:x:1:alice$ ]] || fail "passwd/group: $out"
  # Homes: owned by their users, with homeMode.
  out=$("${PODMAN_RUN[@]}" "$ref" 'stat -c "%U:%G %a %n" /home/alice /var/lib/svc /root /var/empty')
  assert_eq "$out" $'alice:users 700 /home/alice\nsvc:svc 750 /var/lib/svc\nroot:root 700 /root\nroot:root 555 /var/empty'
  # /etc/shadow is root:shadow 0640: not world-readable, so alice cannot read it.
  out=$("${PODMAN_RUN[@]}" "$ref" 'stat -c "%U:%G %a" /etc/shadow; cat /etc/shadow 2>&1 || true')
  assert_eq "$out" $'root:shadow 640\ncat: can\'t open \'/etc/shadow\': Permission denied'
  out=$("${PODMAN_RUN[@]}" --user root "$ref" 'grep "^alice:" /etc/shadow | cut -d: -f2')
  assert_eq "$out" '!'
  # Her shell package is installed; her packages are on her PATH.
  out=$("${PODMAN_RUN[@]}" "$ref" '/bin/bash -c "echo \$BASH_VERSION" | cut -c1-3; hello; echo $PATH')
  assert_eq "$out" $'5.2\nHello, world!\n/etc/profiles/per-user/alice/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
}

t_L3_users_a_created_home_never_takes_over_a_system_directory() {
  # Refused by nci-etc when it builds the users tree (the rule is Rust's, docs/rules.md).
  local home
  for home in /nix/store /etc /bin; do
    expect_build_error "{ image.name = \"x\"; users.users.a = { isSystemUser = true; group = \"a\"; home = \"$home\"; createHome = true; }; users.groups.a = { }; }" \
      "users\.users\.a\.home: \"$home\" is (in the Nix store|a system directory): createHome would make it the user's, mode 700" >/dev/null
  done
}

t_L3_users_an_account_given_no_option_is_written_with_the_defaults_nci_etc_gives_a_field_left_out() {
  # nix/users-defaults.json is generated from users_spec.rs' Default
  # impls (what nci-etc fills in); the module's options read it. The
  # account sets only what its assertions require.
  local spec defaults
  spec=$(users_spec '{ image.name = "x"; users.users.svc = { isSystemUser = true; group = "nogroup"; subUidRanges = [ { startUid = 5; } ]; }; users.groups.g = { }; }')
  defaults=$(jq -S . "$ROOT/nix/users-defaults.json")
  assert_eq "$(jq -cS '.users.svc | del(.name)' <<<"$spec")" \
    "$(jq -cS '.user + { isSystemUser: true, group: "nogroup", subUidRanges: [ { startUid: 5, count: .subIdRange.count } ] }' <<<"$defaults")"
  assert_eq "$(jq -c '.groups.g | del(.name)' <<<"$spec")" "$(jq -c .group <<<"$defaults")"
  assert_eq "$(jq -c .enforceIdUniqueness <<<"$spec")" "$(jq -c .enforceIdUniqueness <<<"$defaults")"
  assert_eq "$(jq -c '[.user.home, .user.homeMode, .user.shell, .subIdRange.count]' <<<"$defaults")" '["/var/empty","700","/sbin/nologin",1]'
}
