{ fetchImage }:
fetchImage {
  formatVersion = 1;
  name = "app \"\${quoted}\"";
  registry = "http://127.0.0.1:5000/v2/";
  repository = "team/app";
  tag = "v1";
  digest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  mediaType = "application/vnd.oci.image.index.v1+json";
  indexDigest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  indexMediaType = "application/vnd.oci.image.index.v1+json";
  images = [
    {
      platform = "linux/amd64";
      manifestDigest = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
      manifestMediaType = "application/vnd.oci.image.manifest.v1+json";
      manifestSize = 812;
      config = {
        digest = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
        size = 1234;
        mediaType = "application/vnd.oci.image.config.v1+json";
        hash = "sha256-zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMw=";
      };
      layers = [
        {
          digest = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
          size = 300000;
          mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
          hash = "sha256-3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d0=";
        }
        {
          digest = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
          size = 4096;
          mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
          hash = "sha256-7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u4=";
        }
      ];
    }
    {
      platform = "linux/arm64/v8";
      manifestDigest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
      manifestMediaType = "application/vnd.oci.image.manifest.v1+json";
      manifestSize = 813;
      config = {
        digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        size = 1235;
        mediaType = "application/vnd.oci.image.config.v1+json";
        hash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
      };
      layers = [
        {
          digest = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
          size = 300000;
          mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
          hash = "sha256-3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d0=";
        }
        {
          digest = "sha256:9999999999999999999999999999999999999999999999999999999999999999";
          size = 4097;
          mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
          hash = "sha256-mZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZk=";
        }
      ];
    }
  ];
}
