import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImagePull
import ImageReference
import ImageTrust

/// `hocker verify`.
struct VerifyCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an image's signatures against the signature policy: who signed which manifest, with which key or identity.",
        discussion: """
            Applies containers-policy.json(5) as skopeo and podman do, to the manifest the reference \
            names and, for an index, to each platform's manifest (every one, or those --platform \
            names). Signatures are read where containers-registries.d(5) says: the lookaside \
            (signature-1, -2, …) and, with use-sigstore-attachments, cosign's sha256-<hex>.sig tag \
            and the image's referrers. For each manifest: the requirement that applied and what \
            satisfied it (the key's fingerprint, the certificate's identity and issuer, the \
            signature's place), or why each signature was refused. Exit status 1 when any \
            manifest is refused; --json prints every verdict.

            Examples:
              hocker verify --policy policy.json 127.0.0.1:5000/team/app:1.2
              hocker verify --json --platform linux/arm64 registry.example/team/app:1.2
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments
    @OptionGroup var trust: TrustOptions

    @Flag(help: "Print the verdicts as a JSON document.")
    var json = false

    func validate() throws {
        if trust.insecurePolicy { throw ValidationError("--insecure-policy leaves nothing to verify; give --policy FILE, or none for the default file") }
    }

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        let choice = try registryOptions.platformChoice()
        let verdicts = try await registryOptions.withSession(context: context, trust: trust) { session in
            try await session.verify(target, platforms: choice == .host ? .all : choice)
        }
        let reference = "\(target.endpoint.name)/\(target.reference.repositoryReference)"
        if json {
            struct Document: Encodable {
                var reference: String
                var accepted: Bool
                var manifests: [ManifestVerdict]
            }
            let document = Document(reference: reference, accepted: verdicts.allSatisfy(\.verdict.accepted), manifests: verdicts)
            try writeOutput(try JSONDocument.bytes(of: document), out: nil, context: context)
        } else {
            try writeOutput(Data(Self.text(reference, verdicts).utf8), out: nil, context: context)
        }
        let refused = verdicts.filter { !$0.verdict.accepted }
        if !refused.isEmpty { throw VerificationFailed(reference: reference, refused: refused.count, total: verdicts.count) }
    }

    /// The verdicts as a person reads them: per manifest, the section of the
    /// policy, then each requirement's proof or refusals.
    static func text(_ reference: String, _ verdicts: [ManifestVerdict]) -> String {
        let field = TerminalText.field
        var lines = [field(reference) + (verdicts.first.map { " under \(field($0.verdict.policyFile))" } ?? "")]
        for manifest in verdicts {
            let verdict = manifest.verdict
            let what = manifest.platform.map(field) ?? (verdicts.count > 1 ? "index" : "manifest")
            lines.append("\(verdict.manifestDigest)  \(what)  \(verdict.accepted ? "accepted" : "REFUSED")  by \(field(verdict.policySection))")
            for requirement in verdict.requirements {
                if let proof = requirement.proof {
                    lines.append("  " + field(proof.summary))
                    continue
                }
                for refusal in requirement.refusals {
                    lines.append("  \(requirement.type): " + field((refusal.signature.map { "\($0): " } ?? "") + refusal.reason.description))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `hocker verify` found manifests the policy refuses (each said above).
struct VerificationFailed: UserFacingError {
    var reference: String
    var refused: Int
    var total: Int

    var message: String {
        total == 1 ? "\(reference) is refused by the policy" : "\(refused) of the \(total) manifests of \(reference) are refused by the policy"
    }

    var hints: [String] {
        ["the lines above say which requirement failed and why; containers-policy.json(5) and containers-registries.d(5) say what is asked and where signatures are looked for"]
    }
}
