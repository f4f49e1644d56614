import ImageReference

extension LockEntry {
    /// The names an image of this entry gets in a daemon, as `nix/`'s
    /// `fromLock` names the archives it builds: `finalName:finalTag`, the
    /// name defaulting to the registry's familiar name for the repository
    /// (`debian`, `127.0.0.1:5000/team/app`) and the tag to the entry's.
    /// None for an entry with neither a tag nor a final tag.
    public func loadedNames() throws(ReferenceError) -> [String] {
        try ImageReference.archiveNames(name: request.finalName, tag: request.finalTag ?? pin.tag) { () throws(ReferenceError) in
            try ImageReference(registry: try endpoint().name, repository: pin.repository)
        }
    }
}
