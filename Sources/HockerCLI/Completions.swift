import ArgumentParser

/// Shell completion for `hocker` and for every old tool name, which
/// completes as the subcommand it stands for (`hocker-layer --l…` as
/// `hocker layer --l…`).
enum Completions {
    /// The script `--generate-completion-script SHELL` prints, under any of
    /// the tool names: hocker's, then the old names handed to it.
    static func script(for shell: CompletionShell) -> String {
        let tools = HockerMain.Tool.allCases.compactMap { tool in tool.subcommand.map { (tool.rawValue, $0) } }
        var script = Hocker.completionScript(for: shell)
        if !script.hasSuffix("\n") { script += "\n" }
        switch shell {
        case .bash:
            script += """

                # The old tool names complete as the hocker subcommand each one is.
                __hocker_as() {
                    local -r subcommand="${1}"
                    shift
                    local -r first="${COMP_WORDS[0]}"
                    COMP_WORDS=(hocker "${subcommand}" "${COMP_WORDS[@]:1}")
                    COMP_CWORD=$((COMP_CWORD + 1))
                    COMP_LINE="hocker ${subcommand}${COMP_LINE:${#first}}"
                    COMP_POINT=$((COMP_POINT + ${#subcommand} + 7 - ${#first}))
                    _hocker hocker "${2}" "${3}"
                }

                """
            for (name, subcommand) in tools {
                let function = "_hocker_as_" + name.replacing("-", with: "_")
                script += "\(function)() { __hocker_as \(subcommand) \"$@\"; }\ncomplete -o filenames -F \(function) \(name)\n"
            }
        case .zsh:
            // Autoloaded from fpath, the file serves every name #compdef lists, with $service
            // telling which: an old name's words are rewritten to hocker's before completing.
            let names = tools.map(\.0).joined(separator: " ")
            script = script.replacing("#compdef hocker\n", with: "#compdef hocker \(names)\n")
            var dispatch = "    case \"${service:-hocker}\" in\n"
            for (name, subcommand) in tools {
                dispatch += "    \(name)) local service=hocker; words=(hocker \(subcommand) \"${(@)words[2,-1]}\"); (( CURRENT += 1 )) ;;\n"
            }
            dispatch += "    esac\n"
            script = script.replacing("_hocker() {\n", with: "_hocker() {\n" + dispatch)
            script += "\n# Sourced rather than autoloaded: the old names too.\n"
            for (name, _) in tools where !script.contains("compdef _hocker \(name)") {
                script += "[[ \"${funcstack[1]}\" = _hocker ]] || compdef _hocker \(name)\n"
            }
        case .fish:
            script += "\n# The old tool names complete as the hocker subcommand each one is.\n"
            for (name, subcommand) in tools {
                script += "complete -c \(name) --wraps 'hocker \(subcommand)'\n"
            }
        default:
            break
        }
        return script
    }

    /// The shell `--generate-completion-script SHELL` names in argv, if it does.
    static func requestedShell(in argv: [String]) -> String? {
        for (index, word) in argv.enumerated() {
            if word == "--generate-completion-script", index + 1 < argv.count { return argv[index + 1] }
            if word.hasPrefix("--generate-completion-script=") { return String(word.dropFirst("--generate-completion-script=".count)) }
        }
        return nil
    }
}
