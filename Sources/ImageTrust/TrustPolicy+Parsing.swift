#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension TrustPolicy {
    /// Parses a containers-policy.json(5) document with containers/image's
    /// strictness: unknown keys, unknown types, duplicate keys, values of
    /// the wrong type and contradictory key sources are errors naming
    /// `file` and the key.
    ///
    /// - Parameter file: the file's name as the user knows it, for messages.
    public init(parsing bytes: some Collection<UInt8>, file: String) throws(TrustPolicyError) {
        let reader = PolicyReader(file: file)
        let document: JSONValue
        do {
            document = try StrictJSON.parse(bytes)
        } catch {
            throw TrustPolicyError(file: file, key: "", problem: .notJSON(error.description))
        }
        let top = try reader.object(document, at: "")
        try reader.allowOnly(["default", "transports"], in: top, at: "")
        guard let defaultValue = top["default"] else { throw reader.fail("default", .missing) }
        let defaults = try reader.requirements(defaultValue, at: "default")
        var transports: [String: [String: [PolicyRequirement]]] = [:]
        if let transportsValue = top["transports"] {
            for (name, scopesValue) in try reader.object(transportsValue, at: "transports").members {
                let transportPath = "transports." + name
                var scopes: [String: [PolicyRequirement]] = [:]
                for (scope, requirementsValue) in try reader.object(scopesValue, at: transportPath).members {
                    scopes[scope] = try reader.requirements(requirementsValue, at: "\(transportPath)[\(quoted(scope))]")
                }
                transports[name] = scopes
            }
        }
        self.init(file: file, defaultRequirements: defaults, transports: transports)
    }
}

/// JSON text for a string: quoted, with `"` and `\` escaped.
func quoted(_ text: String) -> String {
    "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
}

/// Reads the parts of a policy document, each failure a
/// ``TrustPolicyError`` naming the file and the key's path.
struct PolicyReader {
    let file: String

    func fail(_ key: String, _ problem: TrustPolicyError.Problem) -> TrustPolicyError {
        TrustPolicyError(file: file, key: key, problem: problem)
    }

    func object(_ value: JSONValue, at path: String) throws(TrustPolicyError) -> JSONObject {
        guard let object = value.objectValue else { throw fail(path, .wrongType(expected: "an object", found: value.kind)) }
        return object
    }

    /// Refuses the first key of `object` that is not in `allowed`.
    func allowOnly(_ allowed: Set<String>, in object: JSONObject, at path: String) throws(TrustPolicyError) {
        if let unknown = object.keys.first(where: { !allowed.contains($0) }) {
            throw fail(join(path, unknown), .unknownKey)
        }
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func string(_ object: JSONObject, _ key: String, at path: String) throws(TrustPolicyError) -> String? {
        guard let value = object[key] else { return nil }
        guard let text = value.stringValue else { throw fail(join(path, key), .wrongType(expected: "a string", found: value.kind)) }
        return text
    }

    /// A string that must be present and not empty.
    func requiredString(_ object: JSONObject, _ key: String, at path: String) throws(TrustPolicyError) -> String {
        guard let text = try string(object, key, at: path) else { throw fail(join(path, key), .missing) }
        guard !text.isEmpty else { throw fail(join(path, key), .invalid("must not be empty")) }
        return text
    }

    func stringArray(_ object: JSONObject, _ key: String, at path: String) throws(TrustPolicyError) -> [String]? {
        guard let value = object[key] else { return nil }
        guard case .array(let elements) = value else { throw fail(join(path, key), .wrongType(expected: "an array of strings", found: value.kind)) }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue else {
                throw fail("\(join(path, key))[\(index)]", .wrongType(expected: "a string", found: element.kind))
            }
            strings.append(text)
        }
        return strings
    }

    /// Bytes written in the policy as base64 (what Go's JSON does with `[]byte`).
    func base64(_ object: JSONObject, _ key: String, at path: String) throws(TrustPolicyError) -> [UInt8]? {
        guard let text = try string(object, key, at: path) else { return nil }
        return try decodeBase64(text, at: join(path, key))
    }

    func base64Array(_ object: JSONObject, _ key: String, at path: String) throws(TrustPolicyError) -> [[UInt8]]? {
        guard let texts = try stringArray(object, key, at: path) else { return nil }
        var result: [[UInt8]] = []
        for (index, text) in texts.enumerated() {
            result.append(try decodeBase64(text, at: "\(join(path, key))[\(index)]"))
        }
        return result
    }

    private func decodeBase64(_ text: String, at path: String) throws(TrustPolicyError) -> [UInt8] {
        guard let bytes = base64Bytes(text) else { throw fail(path, .invalid("not base64")) }
        return bytes
    }

    /// A non-empty array of requirements.
    func requirements(_ value: JSONValue, at path: String) throws(TrustPolicyError) -> [PolicyRequirement] {
        guard case .array(let elements) = value else { throw fail(path, .wrongType(expected: "an array of requirements", found: value.kind)) }
        guard !elements.isEmpty else { throw fail(path, .invalid("a list of requirements must not be empty")) }
        var requirements: [PolicyRequirement] = []
        for (index, element) in elements.enumerated() {
            requirements.append(try requirement(element, at: "\(path)[\(index)]"))
        }
        return requirements
    }

    func requirement(_ value: JSONValue, at path: String) throws(TrustPolicyError) -> PolicyRequirement {
        let object = try object(value, at: path)
        let type = try requiredString(object, "type", at: path)
        switch type {
        case "insecureAcceptAnything":
            try allowOnly(["type"], in: object, at: path)
            return .insecureAcceptAnything
        case "reject":
            try allowOnly(["type"], in: object, at: path)
            return .reject
        case "signedBy":
            return .signedBy(try signedBy(object, at: path))
        case "sigstoreSigned":
            return .sigstoreSigned(try sigstoreSigned(object, at: path))
        case "signedBaseLayer":
            try allowOnly(["type", "baseLayerIdentity"], in: object, at: path)
            guard let identity = object["baseLayerIdentity"] else { throw fail(join(path, "baseLayerIdentity"), .missing) }
            return .signedBaseLayer(baseLayerIdentity: try identityRule(identity, at: join(path, "baseLayerIdentity")))
        default:
            throw fail(join(path, "type"), .unknownType(type))
        }
    }

    func signedBy(_ object: JSONObject, at path: String) throws(TrustPolicyError) -> SignedByRequirement {
        try allowOnly(["type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"], in: object, at: path)
        let keyTypeName = try requiredString(object, "keyType", at: path)
        guard let keyType = GPGKeyType(rawValue: keyTypeName) else { throw fail(join(path, "keyType"), .unknownType(keyTypeName)) }
        let keys = try keySource(
            object, at: path, path: "keyPath", paths: "keyPaths", data: "keyData", datas: nil, allowEmptyPaths: true)
        guard let keys else { throw fail(join(path, "keyPath"), .invalid("exactly one of keyPath, keyPaths and keyData must be given; none is")) }
        return SignedByRequirement(keyType: keyType, keys: keys, signedIdentity: try signedIdentity(object, at: path))
    }

    func signedIdentity(_ object: JSONObject, at path: String) throws(TrustPolicyError) -> SignedIdentityRule {
        guard let value = object["signedIdentity"] else { return .matchRepoDigestOrExact }
        return try identityRule(value, at: join(path, "signedIdentity"))
    }

    /// At most one of the keys `path`, `paths`, `data` and `datas`; nil when none is there.
    func keySource(
        _ object: JSONObject, at base: String, path: String, paths: String?, data: String, datas: String?, allowEmptyPaths: Bool
    ) throws(TrustPolicyError) -> KeySource? {
        var found: [(String, KeySource)] = []
        if let single = try string(object, path, at: base) {
            guard !single.isEmpty else { throw fail(join(base, path), .invalid("must not be empty")) }
            found.append((path, .path(single)))
        }
        if let paths, let list = try stringArray(object, paths, at: base) {
            guard allowEmptyPaths || !list.isEmpty else { throw fail(join(base, paths), .invalid("contains no entries")) }
            found.append((paths, .paths(list)))
        }
        if let bytes = try base64(object, data, at: base) { found.append((data, .data(bytes))) }
        if let datas, let list = try base64Array(object, datas, at: base) {
            guard !list.isEmpty else { throw fail(join(base, datas), .invalid("contains no entries")) }
            found.append((datas, .datas(list)))
        }
        guard found.count <= 1 else {
            throw fail(join(base, found[1].0), .invalid("\(found[0].0) and \(found[1].0) cannot be used together"))
        }
        return found.first?.1
    }
}
