import HockerCLI

// A synchronous main: see HockerMain.main for why the main thread only waits.
HockerMain.main(tool: .hocker)
