# hocker packaged for nixpkgs, built the way nixpkgs builds swift-format:
# the Swift toolchain from swiftPackages, the SwiftPM dependencies fetched
# by fetchSwiftPMDeps into a fixed-output derivation.
#
#   hocker = pkgs.callPackage ./nix/package.nix {
#     packageResolved = ./Package.resolved;   # from `swift package resolve`
#     swiftpmDepsHash = "sha256-...";         # what the first build reports
#   };
#   hockerLib = import ./nix { inherit hocker; inherit (pkgs) cacert; };
#
# The result holds bin/hocker and, as links to it, the old tool names
# (hocker-manifest, hocker-config, hocker-layer, hocker-image, docker2nix),
# so nixpkgs' fetchdocker can use it too. Its runtime closure is in the
# store, so it runs in the sandbox as the builder of nix/'s derivations.
#
# Untested: the machine this project is developed on has no nixpkgs, so
# this file is only checked to parse (nix-instantiate --parse).
{
  lib,
  swiftPackages,
  stdenv ? swiftPackages.stdenv,
  swift ? swiftPackages.swift,
  swiftpm ? swiftPackages.swiftpm,
  fetchSwiftPMDeps ? swiftPackages.fetchSwiftPMDeps,
  # The checkout to build (default: this repository).
  src ? lib.cleanSourceWith {
    src = ../.;
    filter = path: type: !(lib.hasPrefix ".build" (baseNameOf path));
  },
  # The repository keeps no Package.resolved: fetchSwiftPMDeps needs one.
  packageResolved ? null,
  swiftpmDepsHash ? lib.fakeHash,
}:

stdenv.mkDerivation (finalAttrs: {
  pname = "hocker";
  version = "2.0.0";

  inherit src;

  postPatch = lib.optionalString (packageResolved != null) ''
    cp ${packageResolved} Package.resolved
  '';

  swiftpmDeps = fetchSwiftPMDeps {
    inherit (finalAttrs) pname version src postPatch;
    hash = swiftpmDepsHash;
  };

  strictDeps = true;

  nativeBuildInputs = [
    swift
    swiftpm
  ];

  # One multi-call executable; the other products are the same binary.
  swiftpmFlags = [
    "--product"
    "hocker"
  ];

  installPhase = ''
    runHook preInstall
    binPath="$(swiftpmBinPath)"
    install -Dm755 "$binPath/hocker" "$out/bin/hocker"
    for name in hocker-manifest hocker-config hocker-layer hocker-image docker2nix; do
      ln -s hocker "$out/bin/$name"
    done
    runHook postInstall
  '';

  # The integration tests need docker-registry, skopeo, podman and a Nix
  # store of their own; the unit tests alone are not worth a second build.
  doCheck = false;

  __structuredAttrs = true;

  meta = {
    description = "Daemonless client for Docker/OCI registries that pins images for Nix";
    mainProgram = "hocker";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
})
