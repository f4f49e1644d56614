#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RegistryMirrors
import RegistryClient

/// Finds and reads the registries.conf files a run uses, in the order of
/// containers-registries.conf.d(5); the parsing itself is
/// ``RegistriesConfiguration``'s, which does no I/O.
///
/// - `--registries-conf FILE`, else `CONTAINERS_REGISTRIES_CONF`: that file alone.
/// - else `$XDG_CONFIG_HOME/containers/registries.conf` (`~/.config/…`
///   without it) when it exists, then the `*.conf` files of the
///   `registries.conf.d` beside it, in name order;
/// - else `/etc/containers/registries.conf`, its `registries.conf.d`, then
///   the user's `registries.conf.d`.
///
/// Later files override earlier ones: a `[[registry]]` of the same prefix
/// replaces the earlier one. Missing files are skipped; one that exists and
/// does not parse is an error naming it and the line.
public enum RegistriesConfFiles {
    /// The files to read, in order, of those that exist.
    ///
    /// - Parameter systemDirectory: where the system-wide files are (`/etc/containers`).
    public static func paths(explicit: String?, environment: [String: String], systemDirectory: String = "/etc/containers") -> [String] {
        if let explicit = explicit ?? environment["CONTAINERS_REGISTRIES_CONF"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return [explicit]
        }
        let home = LocalFile.home(environment)
        let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        let user = "\(configHome)/containers/registries.conf"
        if exists(user) { return [user] + dropIns(user + ".d") }
        let system = "\(systemDirectory)/registries.conf"
        return (exists(system) ? [system] : []) + dropIns(system + ".d") + dropIns(user + ".d")
    }

    /// Reads and merges the files ``paths(explicit:environment:systemDirectory:)`` names.
    /// A file named explicitly must exist.
    public static func load(
        explicit: String?, environment: [String: String], systemDirectory: String = "/etc/containers"
    ) throws(RegistriesConfError) -> RegistriesConfiguration {
        var configuration = RegistriesConfiguration()
        for path in paths(explicit: explicit, environment: environment, systemDirectory: systemDirectory) {
            var isDirectory: Bool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw RegistriesConfError(path: path, line: nil, reason: "no such file")
            }
            guard !isDirectory else { throw RegistriesConfError(path: path, line: nil, reason: "is a directory, not a file") }
            // Read to its end, so that /dev/null serves as a file that says nothing.
            let text: String
            do {
                text = try LocalFile.readText(path)
            } catch {
                throw RegistriesConfError(path: path, line: nil, reason: "cannot be read (\(error.reason))")
            }
            configuration = configuration.merging(try RegistriesConfiguration(parsing: text, path: path))
        }
        return configuration
    }

    private static func exists(_ path: String) -> Bool {
        var isDirectory: Bool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory
    }

    /// The `*.conf` files of a drop-in directory, in name order; none when it does not exist.
    private static func dropIns(_ directory: String) -> [String] {
        guard let names = LocalFile.names(in: directory) else { return [] }
        return names.filter { $0.hasSuffix(".conf") }.sorted().map { "\(directory)/\($0)" }.filter(exists)
    }
}
