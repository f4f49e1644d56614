import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Text a registry chose, inside hocker's errors: on one line, its
/// controls shown as escapes, so that no newline of it can start a line
/// that reads as hocker's own (`hocker: note: …`).
@Suite("Registry text in errors")
struct RegistryTextTests {
    static let forged = "\nhocker: note: all is well \u{1B}]0;title\u{07}"

    struct ErrorBody: Sendable, CustomTestStringConvertible {
        var status: Int
        var contentType: String
        var body: String
        var testDescription: String { "\(status) \(contentType)" }
    }

    @Test(arguments: [
        ErrorBody(status: 403, contentType: "application/json", body: #"{"errors":[{"code":"DENIED","message":"no\#(RegistryTextTests.jsonForged)"}]}"#),
        ErrorBody(status: 400, contentType: "application/json", body: #"{"errors":[{"code":"BAD","message":"bad\#(RegistryTextTests.jsonForged)"}]}"#),
        ErrorBody(status: 418, contentType: "text/plain", body: "teapot" + RegistryTextTests.forged),
    ])
    func errorBodiesStayOnOneLine(_ answer: ErrorBody) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .respond(status: answer.status, headers: [("Content-Type", answer.contentType)], body: answer.body))
            let error = await thrownError { try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) } }
            let message = try #require(error as? RegistryError).message
            #expect(message.contains("hocker: note: all is well"), "\(message)")
            #expect(!message.contains("\n") && !message.contains("\u{1B}") && !message.contains("\u{07}"), "\(message)")
        }
    }

    /// The forged line as a JSON string writes it.
    static let jsonForged = #"\nhocker: note: all is well \u001b]0;title\u0007"#

    @Test func platformsOfAnIndexStayOnOneLine() {
        let listed = Platform(os: "linux", architecture: "arm64" + Self.forged)
        let errors: [ImageSpecError] = [
            .noMatchingPlatform(requested: Platform(os: "linux", architecture: "amd64"), available: [listed], image: "r/x:v1"),
            .platformMismatch(image: "r/x:v1", requested: Platform(os: "linux", architecture: "amd64"), actual: listed),
            .notAnImage(image: "r/x:v1", artifactType: "application/x" + Self.forged, refusedBy: .dockerArchive),
        ]
        for error in errors {
            #expect(!error.message.contains("\n") && !error.message.contains("\u{1B}"), "\(error.message)")
        }
    }
}
