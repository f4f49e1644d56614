import HockerCLI

await HockerMain.run(tool: .config)
