import RegistryClient
import Testing

@Suite("WWW-Authenticate challenges")
struct AuthChallengeTests {
    @Test func dockerHubBearer() throws {
        let challenges = AuthChallenge.parse(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#)
        try #require(challenges.count == 1)
        #expect(challenges[0].scheme == "bearer")
        #expect(challenges[0].realm == "https://auth.docker.io/token")
        #expect(challenges[0].service == "registry.docker.io")
        #expect(challenges[0].scope == "repository:library/debian:pull")
    }

    @Test(arguments: [
        (#"Basic realm="basic-realm""#, "basic", ["realm": "basic-realm"]),
        (#"basic realm=x"#, "basic", ["realm": "x"]),
        (#"Bearer realm="a\"b",error="insufficient_scope""#, "bearer", ["realm": "a\"b", "error": "insufficient_scope"]),
        (#"Bearer  realm = "r" , service = "s""#, "bearer", ["realm": "r", "service": "s"]),
        (#"Bearer realm="unterminated"#, "bearer", ["realm": "unterminated"]),
        (#"Bearer scope="repository:a/b:pull,push""#, "bearer", ["scope": "repository:a/b:pull,push"]),
    ])
    func parsesParameters(_ header: String, scheme: String, parameters: [String: String]) {
        let challenges = AuthChallenge.parse(header)
        #expect(challenges.first?.scheme == scheme)
        #expect(challenges.first?.parameters == parameters)
    }

    @Test func severalChallengesInOneHeader() {
        let challenges = AuthChallenge.parse(#"Basic realm="b", Bearer realm="https://t/token",service="s""#)
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges.last?.service == "s")
    }

    /// Unquoted values as gcr.io and others send them, URLs included.
    @Test(arguments: [
        ("Bearer realm=https://gcr.io/v2/token,service=gcr.io", ["realm": "https://gcr.io/v2/token", "service": "gcr.io"]),
        (#"Bearer realm="https://nvcr.io/proxy_auth",scope=repository:nvidia/cuda:pull"#, ["realm": "https://nvcr.io/proxy_auth", "scope": "repository:nvidia/cuda:pull"]),
        ("Bearer realm=https://t/token?a=1&b=2, service=s", ["realm": "https://t/token?a=1&b=2", "service": "s"]),
    ])
    func bareValues(_ header: String, parameters: [String: String]) {
        #expect(AuthChallenge.parse(header).first?.parameters == parameters)
    }

    /// The first challenge hocker can answer, across every header, in order.
    @Test(arguments: [
        (["Negotiate abc==", #"Bearer realm="https://t/token""#], "bearer"),
        ([#"Bearer service="no-realm""#, #"Basic realm="b""#], "basic"),
        ([#"Newauth realm="x", Basic realm="b", Bearer realm="https://t""#], "basic"),
        ([#"Bearer realm="https://t", Basic realm="b""#], "bearer"),
        (["Negotiate", "Bearer service=x"], nil),
        ([], nil),
    ] as [([String], String?)])
    func firstSupported(_ headers: [String], scheme: String?) {
        #expect(AuthChallenge.firstSupported(in: headers)?.scheme == scheme)
    }

    @Test(arguments: ["", ",,,", "=", "\"", "Bearer ,", "Negotiate abc==", "\u{0}\u{1}", "Bearer realm=\"\\"])
    func oddHeadersDoNotCrash(_ header: String) {
        _ = AuthChallenge.parse(header)
    }
}
