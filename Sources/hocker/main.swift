import HockerCLI

await HockerMain.run(tool: .hocker)
