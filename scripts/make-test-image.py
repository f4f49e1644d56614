#!/usr/bin/env python3
"""Writes an OCI image layout with incompressible gzip layers, for benchmarks.

usage: make-test-image.py LAYOUT TAG SIZE [SIZE ...]
Each SIZE (bytes, suffixes k/M/G allowed) makes one layer: a tar holding one
file of that many pseudo-random bytes, gzipped at level 1. A SIZE of the form
shared:SEED:SIZE reuses SEED so two images can share a layer byte for byte.
The data is streamed, so a 1 GB layer needs no 1 GB of memory.
"""
import gzip, hashlib, io, json, os, random, sys, tarfile

def parse_size(text):
    factor = {"k": 1000, "M": 1000**2, "G": 1000**3}.get(text[-1], 1)
    return int(text[:-1] if factor != 1 else text) * factor

class HashingWriter(io.RawIOBase):
    """A file that hashes and counts what is written to it."""
    def __init__(self, path):
        self.file = open(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0
    def writable(self):
        return True
    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.file.write(data)
    def close(self):
        self.file.close()

class RandomReader(io.RawIOBase):
    """size deterministic pseudo-random bytes."""
    def __init__(self, seed, size):
        self.rng = random.Random(seed)
        self.left = size
    def readable(self):
        return True
    def readinto(self, buffer):
        n = min(len(buffer), self.left, 1 << 20)
        if n <= 0:
            return 0
        buffer[:n] = self.rng.randbytes(n)
        self.left -= n
        return n

def write_layer(blobs, seed, size):
    staging = os.path.join(blobs, ".layer")
    compressed = HashingWriter(staging)
    diff = hashlib.sha256()

    class DiffTee(io.RawIOBase):
        def writable(self):
            return True
        def write(self, data):
            diff.update(data)
            return gz.write(data)

    gz = gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=1, mtime=0)
    with tarfile.open(fileobj=DiffTee(), mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("data-%s.bin" % seed)
        info.size = size
        info.mode = 0o644
        tar.addfile(info, io.BufferedReader(RandomReader(seed, size), 1 << 20))
    gz.close()
    compressed.close()
    digest = compressed.sha.hexdigest()
    os.replace(staging, os.path.join(blobs, digest))
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": compressed.size}, "sha256:" + diff.hexdigest()

def put(blobs, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest

def main():
    layout, tag, sizes = sys.argv[1], sys.argv[2], sys.argv[3:]
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    layers, diff_ids = [], []
    for index, spec in enumerate(sizes):
        if spec.startswith("shared:"):
            _, seed, size = spec.split(":")
        else:
            seed, size = "%s-%s-%d" % (os.path.basename(layout), tag, index), spec
        descriptor, diff_id = write_layer(blobs, seed, parse_size(size))
        layers.append(descriptor)
        diff_ids.append(diff_id)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {"Cmd": ["/bin/sh"]}}, sort_keys=True).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(blobs, config), "size": len(config)},
                           "layers": layers}, sort_keys=True).encode()
    digest = put(blobs, manifest)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                   "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(digest)

if __name__ == "__main__":
    main()
