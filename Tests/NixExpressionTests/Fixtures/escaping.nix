{ fetchDockerConfig, fetchDockerLayer, fetchdocker }:
fetchdocker rec {
    name = "my \"app\" \\ \${builtins.abort \"x\"} $HOME";
    registry = "https://registry.example/v2/\${x}";
    repository = "team\\\"\${y}";
    imageName = "app\ttab\nline";
    tag = "v1\${z}\"\\";
    imageConfig = fetchDockerConfig {
      inherit tag registry repository imageName;
      sha256 = "048i248i248i248i248i248i248i248i248i248i248i248i248i";
    };
    imageLayers = let
      layer0 = fetchDockerLayer {
        inherit registry repository imageName;
        layerDigest = "2222222222222222222222222222222222222222222222222222222222222222";
        sha256 = "08i248i248i248i248i248i248i248i248i248i248i248i248i2";
      };
      layer1 = fetchDockerLayer {
        inherit registry repository imageName;
        layerDigest = "3333333333333333333333333333333333333333333333333333333333333333";
        sha256 = "0crk6crk6crk6crk6crk6crk6crk6crk6crk6crk6crk6crk6crk";
      };
      layer2 = fetchDockerLayer {
        inherit registry repository imageName;
        layerDigest = "2222222222222222222222222222222222222222222222222222222222222222";
        sha256 = "08i248i248i248i248i248i248i248i248i248i248i248i248i2";
      };
      in [ layer0 layer1 layer2 ];
  }
