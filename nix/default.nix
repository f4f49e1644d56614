# hocker's Nix library: pull registry images into the Nix store with
# nothing but Nix and the `hocker` executable. Every derivation is a
# `builtins.derivation` whose builder is `hocker nix-builder` (no stdenv,
# no shell, no nixpkgs), so this evaluates and builds with a bare Nix.
#
#   hockerLib = import ./nix { hocker = <hocker package, or path to the binary>; };
#
# Arguments:
#   hocker  the hocker executable: a package (a derivation or directory
#           with bin/hocker), a path to the binary (copied into the store),
#           or a string with an absolute path (used in place, not tracked
#           by Nix; for development with `sandbox = false`).
#   system  the Nix system whose image platform fetchImage picks from a
#           multi-platform pin (default: the evaluating machine's).
#   cacert  the CA roots every fetch trusts, as its SSL_CERT_FILE: a CA
#           bundle file (a path or an absolute path string, copied into
#           the store), or a package with etc/ssl/certs/ca-bundle.crt (as
#           nixpkgs' cacert is). Without it a fetch trusts what the sandbox
#           provides (Nix 2.16 and later mount the host's bundle; earlier
#           versions none), or, with sandbox = false, the caller's
#           NIX_SSL_CERT_FILE / SSL_CERT_FILE and the system bundle.
#
# Credentials never go through the store: the fetchers read DOCKER_TOKEN,
# or DOCKER_USER and DOCKER_PASS, or REGISTRY_AUTH_FILE (and the proxy
# variables) from the environment of the nix-build (impureEnvVars; with a
# nix-daemon, from the daemon's environment). Mirrors too: HOCKER_MIRROR
# (comma-separated HOST[/PATH]) and CONTAINERS_REGISTRIES_CONF (a
# registries.conf); a hash pins the bytes, whichever source serves them.
#
# In the sandbox (sandbox = true, NixOS's default) the builder must stand
# alone: build hocker with scripts/build-static (or from nix/package.nix).
# A build writes nothing but $out and files under $TMPDIR; it needs no HOME.
{ hocker
, system ? builtins.currentSystem
, cacert ? null
}:

let
  inherit (builtins) concatStringsSep elemAt filter head length map match replaceStrings stringLength substring;

  librarySystem = system;

  defaultRegistry = "https://registry-1.docker.io/v2/";

  # A hocker given as a path is copied into the store and is every build's
  # builder, in the sandbox too, where nothing but the store exists: it
  # must be a static executable. Nix cannot look inside a binary, so a path
  # must be the directory scripts/build-static prints, which it marks
  # (nix-support/standalone); a package (nix/package.nix) brings its
  # closure with it, and a string is used in place, as given.
  isDirectory = builtins.pathExists (toString hocker + "/bin/hocker");
  standaloneMark = dir: builtins.pathExists (toString dir + "/nix-support/standalone");
  hockerIsStandalone =
    if substring 0 (stringLength builtins.storeDir + 1) (toString hocker) == builtins.storeDir + "/" then true
    else if isDirectory then standaloneMark hocker
    else baseNameOf (dirOf (toString hocker)) == "bin" && standaloneMark (dirOf (dirOf (toString hocker)));

  notStandalone = throw ''
    hocker: ${toString hocker} is not known to run alone. Nix copies it into the store as the builder of every fetch, and in the sandbox (sandbox = true, NixOS's default) a build sees nothing but the store: a dynamically linked hocker cannot start there (Nix says "executing '/nix/store/...-hocker': No such file or directory").
      Use the directory scripts/build-static prints (a static hocker, marked nix-support/standalone): import ./nix { hocker = /path/printed/by/build-static; }
      or a hocker built by Nix: import ./nix { hocker = pkgs.callPackage ./nix/package.nix { ... }; }
      or, with sandbox = false only, run this one in place by giving its path as a string: import ./nix { hocker = "${toString hocker}"; }'';

  hockerExecutable =
    if builtins.isAttrs hocker then "${hocker}/bin/hocker"
    else if builtins.isPath hocker && !hockerIsStandalone then notStandalone
    else if isDirectory then "${hocker}/bin/hocker"
    else "${hocker}";

  # The CA bundle's path, in the store: a package's etc/ssl/certs/ca-bundle.crt,
  # or the file itself.
  caBundle =
    let bundleIn = dir: "${dir}/etc/ssl/certs/ca-bundle.crt";
    in
    if cacert == null then null
    else if builtins.isAttrs cacert then bundleIn cacert
    else if builtins.pathExists (toString cacert + "/etc/ssl/certs/ca-bundle.crt") then bundleIn cacert
    else if builtins.isPath cacert || (builtins.isString cacert && substring 0 1 cacert == "/") then
      builtins.path { path = /. + toString cacert; name = "ca-bundle.crt"; }
    else throw "hocker: cacert must be a CA bundle file or a package with etc/ssl/certs/ca-bundle.crt, not ${builtins.typeOf cacert}";

  # The variables a fetch may need from the caller's environment. Nix sets
  # impure variables over the derivation's own, so with a cacert the CA
  # variables are not among them: the caller's would replace its bundle.
  impureEnvVars = [
    "DOCKER_USER" "DOCKER_PASS" "DOCKER_TOKEN" "REGISTRY_AUTH_FILE"
    "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy"
    "HTTP_PROXY" "HTTPS_PROXY" "FTP_PROXY" "ALL_PROXY" "NO_PROXY"
    "HOCKER_VERIFY"
    # Mirrors and pull-through caches: the hash is the digest, whichever source serves the bytes.
    "HOCKER_MIRROR" "CONTAINERS_REGISTRIES_CONF"
  ] ++ (if caBundle == null then [ "SSL_CERT_FILE" "NIX_SSL_CERT_FILE" ] else [ ]);

  removePrefix = prefix: s:
    if substring 0 (stringLength prefix) s == prefix
    then substring (stringLength prefix) (stringLength s) s
    else s;

  # A store path name from image names and tags: '/', ':', '@' and ' ' become
  # '-'; a name still not allowed in the store (quotes, '$', ...) gives "docker-image".
  storeName = s:
    let replaced = replaceStrings [ "/" ":" "@" " " ] [ "-" "-" "-" "-" ] s;
    in if match "[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*" replaced != null then replaced else "docker-image";

  # nixpkgs' repository + imageName as one repository path.
  joinRepository = repository: imageName:
    if repository == "" then imageName else "${repository}/${imageName}";

  # Exactly one of nixpkgs' sha256 (base-32, base-16 or SRI) and our hash (SRI).
  outputHashOf = what: sha256: hash:
    if hash != null then hash
    else if sha256 != null then sha256
    else throw "hocker: ${what} needs sha256 or hash";

  # Every derivation of the library: hocker is the builder. `insecure` (a
  # bool) reaches it as "1" or "".
  hockerDerivation = { insecure ? false, ... }@attrs: builtins.derivation ({
    system = builtins.currentSystem;
    builder = hockerExecutable;
    args = [ "nix-builder" ];
    preferLocalBuild = true;
  } // attrs // { insecure = if insecure then "1" else ""; });

  # finalImageName / finalImageTag, those given.
  finalNames = finalImageName: finalImageTag:
    (if finalImageName == null then { } else { inherit finalImageName; })
    // (if finalImageTag == null then { } else { inherit finalImageTag; });

  # A fixed-output derivation that runs one hocker fetch, trusting cacert.
  fetchDerivation = { name, action, hash, registry, repository, ... }@attrs:
    hockerDerivation ((removeAttrs attrs [ "action" "hash" ]) // {
      inherit name registry repository impureEnvVars;
      hockerAction = action;
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = hash;
    } // (if caBundle == null then { } else { SSL_CERT_FILE = caBundle; }));

  # "os/arch[/variant]" in the canonical spelling docker compares.
  normalisePlatform = platform:
    let
      parts = match "([^/]+)/([^/]+)(/([^/]+))?" platform;
      os = elemAt parts 0;
      givenArch = elemAt parts 1;
      givenVariant = elemAt parts 3;
      arch = { x86_64 = "amd64"; x86-64 = "amd64"; aarch64 = "arm64"; armhf = "arm"; i386 = "386"; i686 = "386"; x86 = "386"; }.${givenArch} or givenArch;
      variant =
        if arch == "arm64" && (givenVariant == null || givenVariant == "8") then "v8"
        else if arch == "arm" && givenVariant == null then "v7"
        else if arch == "amd64" && givenVariant == "v1" then null
        else givenVariant;
    in
    if parts == null then platform
    else os + "/" + arch + (if variant == null then "" else "/" + variant);

  # The image platform each Nix system runs (darwin runs linux images in a VM).
  systemPlatforms = {
    x86_64-linux = "linux/amd64";
    aarch64-linux = "linux/arm64/v8";
    armv7l-linux = "linux/arm/v7";
    armv6l-linux = "linux/arm/v6";
    i686-linux = "linux/386";
    powerpc64le-linux = "linux/ppc64le";
    s390x-linux = "linux/s390x";
    riscv64-linux = "linux/riscv64";
    x86_64-darwin = "linux/amd64";
    aarch64-darwin = "linux/arm64/v8";
  };

  platformOf = image: if image.platform or null == null then "unknown" else image.platform;

  # The entry of `images` for `platform`, else for `system`, as { image; }
  # or { error; } (the sentence to throw). A pin whose only image names no
  # platform needs no choice; one that names another platform than the one
  # wanted is refused, unless platform = "any" (take it as it is).
  chooseImage = { images, platform, system, what }:
    let
      wanted =
        if platform != null then normalisePlatform platform
        else systemPlatforms.${system} or null;
      matching = filter (image: image.platform or null != null && normalisePlatform image.platform == wanted) images;
      single = head images;
    in
    if images == [ ] then { error = "hocker: ${what}: the pin lists no images"; }
    else if platform == "any" then { image = if matching != [ ] then head matching else single; }
    else if length images == 1 && single.platform or null == null then { image = single; }
    else if wanted == null then { error = "hocker: ${what}: no image platform is known for system ${system}; pass platform = \"os/arch\""; }
    else if matching != [ ] then { image = head matching; }
    else { error = "hocker: ${what}: no image for ${wanted}${if platform == null then " (system ${system})" else ""}; the pin has ${concatStringsSep ", " (map platformOf images)}; pass platform = \"os/arch\" to pick one, or platform = \"any\" to take a single image whatever it is for"; };

  selectImage = args: let chosen = chooseImage args; in if chosen ? error then throw chosen.error else chosen.image;

  # Why `image` cannot be built as `format`, or null: an OCI artifact (an
  # SBOM, a signature) is no image a docker-archive holds.
  formatProblem = { image, format, what }:
    if format != "docker" && format != "oci-archive" then "hocker: ${what}: format is docker or oci-archive, not ${format}"
    else if format == "docker" && image.artifactType or null != null then
      "hocker: ${what} is an OCI artifact (${image.artifactType}), not a container image: a docker-archive cannot hold it; pass format = \"oci-archive\" to build it as an OCI layout in one tar, its manifest and blobs as they are"
    else null;

  # What fromLock gives for an entry it cannot build here: nothing that
  # nix-build of the whole set builds (a trace says it is left out), and
  # the error wherever the entry is used.
  unavailable = message: builtins.trace "${message} (left out)" {
    hockerUnavailable = message;
    outPath = throw message;
  };

  blobHex = digest: removePrefix "sha256:" digest;

  # A layer's file name ending; an artifact's blobs (not tars) get none.
  layerExtension = mediaType:
    if match "application/vnd\\.(oci\\.image\\.layer|docker\\.image\\.rootfs)\\..*" mediaType == null then ""
    else if match ".*gzip" mediaType != null then ".tar.gz"
    else if match ".*zstd" mediaType != null then ".tar.zst"
    else ".tar";

  self = rec {
    inherit defaultRegistry normalisePlatform systemPlatforms caBundle;

    # One blob by digest, as a fixed-output derivation. Blobs with the same
    # name and hash are one store path, whichever image or registry they
    # came from.
    fetchBlob =
      { registry ? defaultRegistry
      , repository            # the full repository path, "library/debian"
      , digest                # "sha256:<hex>"
      , hash                  # SRI, base-32 or base-16 SHA-256
      , name ? "docker-blob-${blobHex digest}"
      , insecure ? false
      }:
      fetchDerivation {
        inherit name registry repository digest hash insecure;
        action = "fetch-blob";
      };

    # One manifest by digest, its exact bytes, as a fixed-output derivation
    # (an oci-archive keeps them). The digest is the bytes' SHA-256, so it is
    # the output hash.
    fetchManifest =
      { registry ? defaultRegistry
      , repository
      , digest                # "sha256:<hex>"
      , name ? "docker-manifest-${blobHex digest}.json"
      , insecure ? false
      }:
      fetchDerivation {
        inherit name registry repository digest insecure;
        hash = blobHex digest;
        action = "fetch-manifest";
      };

    # nixpkgs' fetchDockerLayer: `hocker-layer --layer <layerDigest> <repository>/<imageName>`.
    fetchDockerLayer =
      { registry ? defaultRegistry
      , repository ? "library"
      , imageName
      , layerDigest           # hex, with or without "sha256:"
      , sha256 ? null
      , hash ? null
      , tag ? "unused"        # accepted, as nixpkgs passes it; not used
      , name ? "docker-layer-${blobHex layerDigest}.tar.gz"
      , insecure ? false
      , ...
      }:
      fetchBlob {
        inherit registry name insecure;
        repository = joinRepository repository imageName;
        digest = "sha256:${blobHex layerDigest}";
        hash = outputHashOf "fetchDockerLayer ${layerDigest}" sha256 hash;
      };

    # nixpkgs' fetchDockerConfig. Its sha256 is the config's digest, so the
    # config is fetched by that digest: a tag that moved since the pin was
    # made cannot break the build. (A hash that is no digest — none is —
    # would resolve the tag, as hocker-config does, for `platform`.)
    fetchDockerConfig =
      { registry ? defaultRegistry
      , repository ? "library"
      , imageName
      , tag
      , sha256 ? null
      , hash ? null
      , name ? storeName "${repository}_${imageName}_${tag}-config.json"
      , platform ? null
      , configDigest ? null
      , insecure ? false
      , ...
      }:
      let
        outputHash = outputHashOf "fetchDockerConfig ${imageName}:${tag}" sha256 hash;
        path = joinRepository repository imageName;
      in
      if configDigest != null then
        fetchBlob { inherit registry name insecure; repository = path; digest = configDigest; hash = outputHash; }
      else
        fetchDerivation ({
          inherit name registry tag insecure;
          repository = path;
          hash = outputHash;
          action = "fetch-config";
        } // (if platform == null then { } else { inherit platform; }));

    # nixpkgs' fetchdocker: a directory with the image as a docker-archive
    # (image.tar, for `docker load -i` / `podman load -i`) and
    # compositeImage.sh, which writes it to stdout (`compositeImage.sh | docker load`).
    fetchdocker =
      { name
      , registry ? defaultRegistry
      , repository ? "library"
      , imageName
      , tag
      , imageConfig
      , imageLayers
      , image ? "${replaceStrings [ "https://" "http://" ] [ "" "" ] registry}/${repository}/${imageName}:${tag}"
      , finalImageName ? null   # the name the loaded image gets (default: the registry's name for it)
      , finalImageTag ? null
      , insecure ? false
      , stream ? false          # only compositeImage.sh, streaming from the blobs: no image.tar in the store
      , ...
      }:
      let
        # Blobs whose fixed-output hash is their digest were checked by Nix: the builder copies them without hashing.
        known = builtins.all (layer: layer ? digest && layer ? outputHash) imageLayers;
      in
      hockerDerivation ({
        name = storeName name;
        hockerAction = "fetchdocker";
        inherit registry tag insecure;
        repository = joinRepository repository imageName;
        configPath = imageConfig;
        layerPaths = imageLayers;
        layerDigests = if known then map (layer: layer.digest) imageLayers else [ ];
        layerHashes = if known then map (layer: layer.outputHash) imageLayers else [ ];
        stream = if stream then "1" else "";
      }
      // (if imageConfig ? outputHash then { configHash = imageConfig.outputHash; } else { })
      // finalNames finalImageName finalImageTag)
      // { inherit image imageConfig imageLayers; };

    # An image from a pin (`docker2nix --format hocker`, or `--json` read with
    # builtins.fromJSON): the platform's config and layers, one fixed-output
    # derivation each, assembled by hocker into a docker-archive file for
    # `docker load -i` / `podman load -i`. The platform is `platform` if
    # given, else the one `system` runs.
    fetchImage =
      { registry ? defaultRegistry
      , repository              # the full repository path, "library/debian"
      , tag ? null
      , name ? null
      , images                  # [ { platform; manifestDigest; config; layers; ... } ]
      , platform ? null         # "os/arch[/variant]" to pick, or "any"
      , system ? librarySystem  # else the platform of this Nix system
      , finalImageName ? null   # the name the loaded image gets (default: the registry's name for it)
      , finalImageTag ? null    # its tag (default: tag)
      , insecure ? false
      , format ? "docker"       # or "oci-archive" (an OCI layout in one tar, the image's digest kept); an artifact only this
      , stream ? false          # an executable that writes the archive to stdout from the blobs: `$out | podman load`
      , lockEntry ? null        # the lock entry's name (fromLock), for the errors
      , ...                     # formatVersion, digest, mediaType, indexDigest, indexMediaType
      }:
      let
        image = "${repository}${if tag == null then "" else ":${tag}"}";
        what = if lockEntry == null then image else "lock entry ${lockEntry} (${image})";
        chosen = selectImage { inherit images platform system what; };
        problem = formatProblem { image = chosen; inherit format what; };
        blob = fileName: entry: fetchBlob {
          inherit registry repository insecure;
          inherit (entry) digest hash;
          name = fileName;
        };
        config = blob "docker-config-${blobHex chosen.config.digest}.json" chosen.config;
        layers = map (layer: blob "docker-layer-${blobHex layer.digest}${layerExtension layer.mediaType}" layer) chosen.layers;
        shortName = if name != null then name else baseNameOf repository;
        label = if tag != null then tag else substring 0 12 (blobHex chosen.manifestDigest);
        archive =
          if problem != null then throw problem
          else if format == "docker" then "docker-archive"
          else "oci-archive";
        manifest = fetchManifest {
          inherit registry repository insecure;
          digest = chosen.manifestDigest;
        };
      in
      hockerDerivation ({
        name = storeName "${if format == "docker" then "docker-image" else "oci-image"}-${shortName}-${label}${if stream then "-stream" else ".tar"}";
        hockerAction = if stream then "stream-script" else archive;
        archiveFormat = format;
        inherit registry repository insecure;
        tag = if tag == null then "" else tag;
        configPath = config;
        configDigest = chosen.config.digest;
        configMediaType = chosen.config.mediaType;
        configHash = chosen.config.hash;
        layerPaths = layers;
        layerDigests = map (layer: layer.digest) chosen.layers;
        layerMediaTypes = map (layer: layer.mediaType) chosen.layers;
        layerHashes = map (layer: layer.hash) chosen.layers;
      }
      // (if format == "oci-archive" then {
        manifestPath = manifest;
        manifestDigest = chosen.manifestDigest;
        manifestMediaType = chosen.manifestMediaType;
        manifestHash = blobHex chosen.manifestDigest;
      } else { })
      // finalNames finalImageName finalImageTag)
      // {
        inherit config layers;
        platform = chosen.platform or null;
        manifestDigest = chosen.manifestDigest;
      };

    # fetchImage of a `docker2nix --json` document.
    fetchImageFromJSON = path: fetchImage (builtins.fromJSON (builtins.readFile path));

    # Every entry of a `hocker lock` file, by name: each the docker-archive
    # fetchImage builds (the same derivations, so blobs are shared with
    # every other pin), for `platform` if given, else the one `system` runs,
    # named as the entry's --final-name says. Entries are built only when
    # used. Takes the file, or { lockFile; platform ? null; system ? ...; }.
    # An entry that cannot be built here (no image for the platform, an
    # artifact as a docker-archive) does not stop the others: nix-build of
    # the whole set leaves it out with a trace, and using it is an error
    # naming the entry.
    fromLock = arg:
      let
        options = if builtins.isAttrs arg then arg else { lockFile = arg; };
        lockFile = options.lockFile;
        platform = options.platform or null;
        system = options.system or librarySystem;
        stream = options.stream or false;
        format = options.format or "docker";
        lock = builtins.fromJSON (builtins.readFile lockFile);
        version = lock.formatVersion or 0;
        image = name: entry:
          let
            request = entry.request or { };
            what = "lock entry ${name} (${entry.repository or "?"}${if entry.tag or null == null then "" else ":${entry.tag}"})";
            chosen = chooseImage { images = entry.images or [ ]; inherit platform system what; };
            problem = if chosen ? error then chosen.error else formatProblem { image = chosen.image; inherit format what; };
          in
          if problem != null then unavailable problem
          else fetchImage ((removeAttrs entry [ "request" "trust" ]) // {
            inherit platform system stream format;
            lockEntry = name;
            finalImageName = request.finalName or null;
            finalImageTag = request.finalTag or null;
          });
      in
      if version != 1 then throw "hocker: ${toString lockFile} has formatVersion ${toString version}; this library reads 1 (upgrade hocker)"
      else builtins.mapAttrs image (lock.entries or { });

    # An executable that loads `images` into the docker or podman daemon on
    # this machine, sending only what it lacks: an image the daemon has (the
    # same image ID) is only given the names it lacks and none of its layers
    # is read; nothing goes to a network. It runs `hocker load -i` of each
    # image with the hocker that built it. An image is what fetchImage,
    # fromLock or fetchdocker builds: streamed (stream = true) is best, as
    # its ID is read from its script and its layers go from the store into
    # the daemon only when missing; an archive file works too (its headers
    # are read). Arguments to the executable go to hocker load: --host
    # unix:///run/podman/podman.sock, -q, --force, --jobs N. Run it from a
    # systemd unit ordered before the containers (README: NixOS).
    loadImages =
      { images                   # [ image ], each a streamed image, an archive or a fetchdocker directory
      , name ? "hocker-load-images"
      }:
      hockerDerivation {
        name = storeName name;
        hockerAction = "load-script";
        imagePaths = images;
      };

    # loadImages of one image.
    loadImage = image: loadImages { images = [ image ]; name = "hocker-load-${image.name}"; };

    # loadImages of every entry of a lock file, streamed (fromLock's
    # arguments: the file, or { lockFile; platform ? null; system ? ...; };
    # stream = false loads archive files built in the store instead). An
    # entry fromLock leaves out (no image for the platform) is left out
    # here too, with its trace.
    loadLock = arg:
      let
        options = if builtins.isAttrs arg then arg else { lockFile = arg; };
        images = fromLock ({ stream = true; } // options);
        buildable = builtins.filter (image: !(image ? hockerUnavailable)) (map (name: images.${name}) (builtins.attrNames images));
      in
      loadImages { images = buildable; name = options.name or "hocker-load-lock"; };

    # Calls a generated expression (a file or a function) with the functions
    # it asks for, as nixpkgs' callPackage does. Given
    # { image = <file or function>; stream = true; } (or format = "oci-archive"),
    # the image it describes is streamed (or written as an oci-archive).
    callImage = arg:
      let
        options = if builtins.isAttrs arg && arg ? image then arg else { image = arg; };
        fn = options.image;
        f = if builtins.isFunction fn then fn else import fn;
        extra = removeAttrs options [ "image" ];
        functions = self // {
          fetchImage = args: self.fetchImage (args // extra);
          fetchdocker = args: self.fetchdocker (args // (if extra ? stream then { inherit (extra) stream; } else { }));
        };
      in f (builtins.intersectAttrs (builtins.functionArgs f) functions);
  };
in
self
