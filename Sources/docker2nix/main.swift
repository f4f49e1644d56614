import HockerCLI

await HockerMain.run(tool: .docker2nix)
