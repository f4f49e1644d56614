import HockerCLI

await HockerMain.run(tool: .image)
