import HockerCLI

await HockerMain.run(tool: .manifest)
