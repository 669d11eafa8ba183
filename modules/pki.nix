# A CA bundle in /etc/ssl/certs, NixOS' `security.pki` options. Off by
# default (an image that makes no TLS connection needs none): with
# `installCACerts`, `pkgs.cacert`'s bundle, plus `certificateFiles` and
# `certificates`; the bundle is linked where OpenSSL, Debian and Red Hat
# conventions look, and `SSL_CERT_FILE` / `NIX_SSL_CERT_FILE` point at it.
{
  config,
  lib,
  pkgs,
  nciTools,
  ...
}:
let
  inherit (lib) mkOption mkIf types literalExpression;
  cfg = config.security.pki;
  textFile = import ../nix/text-file.nix {
    inherit nciTools;
    system = pkgs.stdenv.buildPlatform.system;
  };
  bundleFile = "/etc/ssl/certs/ca-certificates.crt";
  cacertBundle = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
  extra = cfg.certificateFiles != [ ] || cfg.certificates != [ ];
  enabled = cfg.installCACerts || extra;
  # Only the package's bundle: link to it; otherwise concatenate.
  bundle =
    if !extra then
      cacertBundle
    else
      textFile "ca-bundle.crt" (
        lib.optional cfg.installCACerts { file = cacertBundle; }
        ++ lib.concatMap (f: [
          { text = "\n"; }
          { file = "${f}"; }
        ]) cfg.certificateFiles
        ++ map (c: { text = "\n${c}\n"; }) cfg.certificates
      );
in
{
  # interface
  options.security.pki = {
    installCACerts = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Whether the image has a CA bundle with the certificates of
        `pkgs.cacert` (Mozilla's list) in ${bundleFile}. Off by default
        in an image; NixOS has it on.
      '';
    };

    certificateFiles = mkOption {
      type = types.listOf types.path;
      default = [ ];
      example = literalExpression ''[ "''${pkgs.my-ca}/ca.pem" ]'';
      description = ''
        PEM files of extra trusted CA certificates, appended to the bundle
        (which then exists even without `installCACerts`).
      '';
    };

    certificates = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = literalExpression ''
        [ '''
          NixOS.org
          =========
          -----BEGIN CERTIFICATE-----
          MIIGUDCCBTigAwIBAgIDD8KWMA0GCSqGSIb3DQEBBQUAMIGMMQswCQYDVQQGEwJJ
          ...
          -----END CERTIFICATE-----
        ''' ]
      '';
      description = "Extra trusted CA certificates, PEM text, appended to the bundle.";
    };

    caBundle = mkOption {
      type = types.path;
      readOnly = true;
      default = bundle;
      defaultText = literalExpression "the bundle of `pkgs.cacert`, `certificateFiles` and `certificates`";
      example = literalExpression ''"''${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"'';
      description = ''
        The CA bundle's store path, as NixOS' option: service modules put
        it in their configuration (unbound's `tls-cert-bundle`, ...), and
        the reference brings it into the image whether or not
        `installCACerts` puts it in /etc.
      '';
    };
  };

  # implementation
  config = mkIf enabled {
    environment.etc = {
      "ssl/certs/ca-certificates.crt".source = bundle;
      "ssl/certs/ca-bundle.crt".source = bundle;
      "pki/tls/certs/ca-bundle.crt".source = bundle;
    };
    image.env = {
      SSL_CERT_FILE = lib.mkDefault bundleFile;
      NIX_SSL_CERT_FILE = lib.mkDefault bundleFile;
    };
  };
}
