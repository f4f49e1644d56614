import HockerCLI

await HockerMain.run(tool: .layer)
