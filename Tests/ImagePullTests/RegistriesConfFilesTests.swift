import Foundation
import ImagePull
import RegistryMirrors
import Testing

/// Which registries.conf files are read, in which order: temporary
/// directories stand in for /etc/containers and the user's config, so no
/// test reads or writes the machine's own.
@Suite("registries.conf files")
struct RegistriesConfFilesTests {
    /// A temporary tree with `system/` (for /etc/containers) and `config/` (for XDG_CONFIG_HOME).
    final class Tree {
        let root: String
        var system: String { "\(root)/system" }
        var user: String { "\(root)/config/containers" }
        var environment: [String: String] { ["XDG_CONFIG_HOME": "\(root)/config", "HOME": "\(root)/home"] }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-conf-\(UUID().uuidString.prefix(8))").path
            for directory in ["\(root)/system/registries.conf.d", "\(root)/config/containers/registries.conf.d"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }

        func write(_ path: String, mirror: String) throws {
            try "[[registry]]\nlocation = \"r.example\"\n[[registry.mirror]]\nlocation = \"\(mirror)\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test("without the user's file: the system file, its drop-ins, then the user's drop-ins")
    func systemThenDropIns() throws {
        let tree = try Tree()
        try tree.write("\(tree.system)/registries.conf", mirror: "system.example")
        try tree.write("\(tree.system)/registries.conf.d/20-b.conf", mirror: "system-b.example")
        try tree.write("\(tree.system)/registries.conf.d/10-a.conf", mirror: "system-a.example")
        try "not a drop-in".write(toFile: "\(tree.system)/registries.conf.d/README", atomically: true, encoding: .utf8)
        try tree.write("\(tree.user)/registries.conf.d/30-user.conf", mirror: "user-drop-in.example")
        let paths = RegistriesConfFiles.paths(explicit: nil, environment: tree.environment, systemDirectory: tree.system)
        #expect(paths == [
            "\(tree.system)/registries.conf", "\(tree.system)/registries.conf.d/10-a.conf", "\(tree.system)/registries.conf.d/20-b.conf",
            "\(tree.user)/registries.conf.d/30-user.conf",
        ])
        // The same prefix in a later file replaces the earlier table.
        let configuration = try RegistriesConfFiles.load(explicit: nil, environment: tree.environment, systemDirectory: tree.system)
        #expect(configuration.registries.map { $0.mirrors.map(\.location) } == [["user-drop-in.example"]])
    }

    @Test("the user's file replaces the system's and its drop-ins")
    func userFile() throws {
        let tree = try Tree()
        try tree.write("\(tree.system)/registries.conf", mirror: "system.example")
        try tree.write("\(tree.system)/registries.conf.d/10-a.conf", mirror: "system-a.example")
        try tree.write("\(tree.user)/registries.conf", mirror: "user.example")
        try tree.write("\(tree.user)/registries.conf.d/10-user.conf", mirror: "user-drop-in.example")
        #expect(RegistriesConfFiles.paths(explicit: nil, environment: tree.environment, systemDirectory: tree.system) == [
            "\(tree.user)/registries.conf", "\(tree.user)/registries.conf.d/10-user.conf",
        ])
    }

    @Test("--registries-conf, else CONTAINERS_REGISTRIES_CONF, alone; a missing one is an error")
    func explicitFile() throws {
        let tree = try Tree()
        try tree.write("\(tree.user)/registries.conf", mirror: "user.example")
        var environment = tree.environment
        environment["CONTAINERS_REGISTRIES_CONF"] = "\(tree.root)/variable.conf"
        #expect(RegistriesConfFiles.paths(explicit: nil, environment: environment, systemDirectory: tree.system) == ["\(tree.root)/variable.conf"])
        #expect(RegistriesConfFiles.paths(explicit: "\(tree.root)/flag.conf", environment: environment, systemDirectory: tree.system) == ["\(tree.root)/flag.conf"])
        #expect(throws: RegistriesConfError(path: "\(tree.root)/variable.conf", line: nil, reason: "no such file")) {
            try RegistriesConfFiles.load(explicit: nil, environment: environment, systemDirectory: tree.system)
        }
    }

    @Test("nothing there: no mirrors")
    func nothing() throws {
        let tree = try Tree()
        #expect(try RegistriesConfFiles.load(explicit: nil, environment: tree.environment, systemDirectory: tree.system).registries.isEmpty)
    }
}
