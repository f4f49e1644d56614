import Logging
import RegistryClient

/// A log handler that masks every secret the run knows of (see
/// `SecretRedactor`) in messages and metadata before passing them on, so
/// `--verbose` shows `***` where a password or token would have been.
struct RedactingLogHandler: LogHandler {
    private var wrapped: any LogHandler
    private let redactor: SecretRedactor

    init(_ wrapped: any LogHandler, redactor: SecretRedactor) {
        self.wrapped = wrapped
        self.redactor = redactor
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(redactor.redact(event.message.description))"
        event.metadata = event.metadata?.mapValues { .string(redactor.redact($0.description)) }
        wrapped.log(event: event)
    }
}
