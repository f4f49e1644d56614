import ImageReference

extension PolicyReader {
    /// A `sigstoreSigned` requirement: exactly one of the key sources,
    /// `fulcio` and `pki`; at most one Rekor key source, required with
    /// `fulcio` and refused with `pki` (containers/image's rules).
    func sigstoreSigned(_ object: JSONObject, at path: String) throws(TrustPolicyError) -> SigstoreSignedRequirement {
        try allowOnly(
            [
                "type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki", "rekorPublicKeyPath", "rekorPublicKeyPaths",
                "rekorPublicKeyData", "rekorPublicKeyDatas", "signedIdentity",
            ], in: object, at: path)
        let keys = try keySource(object, at: path, path: "keyPath", paths: "keyPaths", data: "keyData", datas: "keyDatas", allowEmptyPaths: false)
        var trusts: [(String, SigstoreSignedRequirement.Trust)] = []
        if let keys { trusts.append(("public keys", .publicKeys(keys))) }
        if let value = object["fulcio"] { trusts.append(("fulcio", .fulcio(try fulcio(value, at: join(path, "fulcio"))))) }
        if let value = object["pki"] { trusts.append(("pki", .pki(try pki(value, at: join(path, "pki"))))) }
        guard trusts.count == 1, let trust = trusts.first?.1 else {
            let reason = trusts.isEmpty ? "none is given" : "\(trusts.map(\.0).joined(separator: " and ")) are given"
            throw fail(path, .invalid("exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be given; \(reason)"))
        }
        let rekor = try keySource(
            object, at: path, path: "rekorPublicKeyPath", paths: "rekorPublicKeyPaths", data: "rekorPublicKeyData", datas: "rekorPublicKeyDatas",
            allowEmptyPaths: false)
        if case .fulcio = trust, rekor == nil {
            throw fail(join(path, "rekorPublicKeyPath"), .invalid("a Rekor public key must be given with fulcio"))
        }
        if case .pki = trust, rekor != nil {
            throw fail(join(path, "rekorPublicKeyPath"), .invalid("Rekor public keys are not used with pki"))
        }
        return SigstoreSignedRequirement(trust: trust, rekorPublicKeys: rekor, signedIdentity: try signedIdentity(object, at: path))
    }

    func fulcio(_ value: JSONValue, at path: String) throws(TrustPolicyError) -> FulcioTrust {
        let object = try object(value, at: path)
        try allowOnly(["caPath", "caData", "oidcIssuer", "subjectEmail"], in: object, at: path)
        let ca = try keySource(object, at: path, path: "caPath", paths: nil, data: "caData", datas: nil, allowEmptyPaths: false)
        guard let ca else { throw fail(join(path, "caPath"), .invalid("one of caPath and caData must be given")) }
        return FulcioTrust(
            certificateAuthority: ca, oidcIssuer: try requiredString(object, "oidcIssuer", at: path),
            subjectEmail: try requiredString(object, "subjectEmail", at: path))
    }

    func pki(_ value: JSONValue, at path: String) throws(TrustPolicyError) -> PKITrust {
        let object = try object(value, at: path)
        try allowOnly(
            ["caRootsPath", "caRootsData", "caIntermediatesPath", "caIntermediatesData", "subjectEmail", "subjectHostname"], in: object, at: path)
        let roots = try keySource(object, at: path, path: "caRootsPath", paths: nil, data: "caRootsData", datas: nil, allowEmptyPaths: false)
        guard let roots else { throw fail(join(path, "caRootsPath"), .invalid("one of caRootsPath and caRootsData must be given")) }
        let intermediates = try keySource(
            object, at: path, path: "caIntermediatesPath", paths: nil, data: "caIntermediatesData", datas: nil, allowEmptyPaths: false)
        let email = try string(object, "subjectEmail", at: path).flatMap { $0.isEmpty ? nil : $0 }
        let hostname = try string(object, "subjectHostname", at: path).flatMap { $0.isEmpty ? nil : $0 }
        guard email != nil || hostname != nil else {
            throw fail(join(path, "subjectEmail"), .invalid("at least one of subjectEmail and subjectHostname must be given"))
        }
        return PKITrust(roots: roots, intermediates: intermediates, subjectEmail: email, subjectHostname: hostname)
    }

    /// A `signedIdentity` (or `baseLayerIdentity`) object.
    func identityRule(_ value: JSONValue, at path: String) throws(TrustPolicyError) -> SignedIdentityRule {
        let object = try object(value, at: path)
        let type = try requiredString(object, "type", at: path)
        switch type {
        case "matchExact", "matchRepoDigestOrExact", "matchRepository":
            try allowOnly(["type"], in: object, at: path)
            return type == "matchExact" ? .matchExact : type == "matchRepository" ? .matchRepository : .matchRepoDigestOrExact
        case "exactReference":
            try allowOnly(["type", "dockerReference"], in: object, at: path)
            let reference = try requiredString(object, "dockerReference", at: path)
            let parsed: ImageReference
            do { parsed = try ImageReference(parsing: reference) } catch { throw fail(join(path, "dockerReference"), .invalid(error.message)) }
            guard !parsed.isNameOnly else { throw fail(join(path, "dockerReference"), .invalid("\"\(reference)\" names neither a tag nor a digest")) }
            return .exactReference(reference)
        case "exactRepository":
            try allowOnly(["type", "dockerRepository"], in: object, at: path)
            let repository = try requiredString(object, "dockerRepository", at: path)
            do { _ = try ImageReference(parsing: repository) } catch { throw fail(join(path, "dockerRepository"), .invalid(error.message)) }
            return .exactRepository(repository)
        case "remapIdentity":
            try allowOnly(["type", "prefix", "signedPrefix"], in: object, at: path)
            let prefix = try requiredString(object, "prefix", at: path)
            let signedPrefix = try requiredString(object, "signedPrefix", at: path)
            for (key, text) in [("prefix", prefix), ("signedPrefix", signedPrefix)] {
                if let problem = SignedIdentityRule.prefixProblem(text) { throw fail(join(path, key), .invalid("\"\(text)\": \(problem)")) }
            }
            return .remapIdentity(prefix: prefix, signedPrefix: signedPrefix)
        default:
            throw fail(join(path, "type"), .unknownType(type))
        }
    }
}
